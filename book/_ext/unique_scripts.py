"""Sphinx extension: drop repeated identical ``<script>`` tags from every HTML page.

sphinx-thebe 0.3.1 registers its inline configuration script (``const THEBE_JS_URL = ...``)
after the HTML builder has been initialised; Sphinx 7.4 then emits it twice, and the second
``const`` declaration is a SyntaxError in every reader's console. Scripts are identified by
file name (``None`` and ``""`` alike: both mean inline) and attributes (an inline script's
``body`` is one of them); only exact repeats go.
"""

from __future__ import annotations

from typing import Any


def drop_repeated_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        # The repeat is registered once with filename None and once with "": same script.
        filename = getattr(script, "filename", script) or ""
        attributes = getattr(script, "attributes", {}) or {}
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    # In place: the list is the builder's, and handlers that run after this one (MathJax's
    # among them) append their scripts to it.
    scripts[:] = unique


def setup(app: Any) -> dict:
    # Early: html-page-context stops at the first handler that returns a template name.
    app.connect("html-page-context", drop_repeated_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
