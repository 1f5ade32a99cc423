"""The built book as readers see it, checked in headless Chromium.

Which build is checked: ``$DROPOUT_THEORY_BOOK_HTML`` if set; else ``_build/html`` when it
is newer than every source of the book (``_toc.yml``, ``_config.yml``, ``book/``,
``dropout_theory/``, ``results/``), as after ``make book`` (``.ci/run`` builds the book before
the tests); else the test builds the book itself with ``jupyter-book`` into a temporary
directory (slow: it executes every chapter).

The pages are served from ``127.0.0.1`` on a free port and every page is opened in headless
Chromium, driven over the DevTools protocol (``cdp_client.py``, standard library only).
Asserted: MathJax typeset the maths (no raw ``$$``, ``\\(`` or ``\\[`` left in the text, no
MathJax error nodes), every image loaded with a non-zero size, no console errors or uncaught
exceptions, every internal link (and its #fragment) resolves, and the search page finds
"Bernoulli". Screenshots of the introduction and the algorithm chapter are written to
``_build/screenshots/`` for a human to look at.

MathJax 3 comes from cdn.jsdelivr.net, which serves the files of the npm package
``mathjax``. On a machine without access to it, point ``$DROPOUT_THEORY_MATHJAX`` at that
package (default: ``node_modules/mathjax``, from ``npm install --no-save mathjax@3``) and
the browser is served the same files from there; with neither, the test is skipped.

Skipped with a message when Chromium is not installed (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import base64
import functools
import http.server
import mimetypes
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

from cdp_client import Chromium, Page, encode_frame, find_chromium

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/"
SOURCES = ("_toc.yml", "_config.yml", "book", "dropout_theory", "results")
NOT_PAGES = ("_static", "_sources", "_images", "_downloads", "_panels_static")


def test_websocket_frame_encoding_matches_rfc6455_example() -> None:
    # RFC 6455 §5.7: a masked single-frame text message "Hello" with mask 37 fa 21 3d.
    frame = encode_frame(b"Hello", mask_key=bytes.fromhex("37fa213d"))
    assert frame == bytes.fromhex("818537fa213d7f9f4d5158")
    assert encode_frame(b"x" * 200, mask_key=b"\0\0\0\0")[:4] == bytes([0x81, 0xFE, 0x00, 0xC8])
    assert encode_frame(b"x" * 70000, mask_key=b"\0\0\0\0")[:10] == bytes([0x81, 0xFF, 0, 0, 0, 0, 0, 1, 0x11, 0x70])


def newest_mtime(paths: Iterator[Path]) -> float:
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)


def source_files() -> Iterator[Path]:
    for name in SOURCES:
        path = ROOT / name
        yield from (path.rglob("*") if path.is_dir() else [path])


@pytest.fixture(scope="module")
def chromium() -> str:
    executable = find_chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; or set $CHROMIUM)")
    return executable


@pytest.fixture(scope="module")
def book_html(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("DROPOUT_THEORY_BOOK_HTML"):
        html = Path(os.environ["DROPOUT_THEORY_BOOK_HTML"])
        assert (html / "index.html").exists(), f"$DROPOUT_THEORY_BOOK_HTML={html} has no index.html"
        return html
    built = ROOT / "_build" / "html"
    if (built / "index.html").exists() and newest_mtime(built.rglob("*")) >= newest_mtime(source_files()):
        return built
    output = tmp_path_factory.mktemp("book")
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [str(bin_dir / "jupyter-book"), "build", str(ROOT), "--path-output", str(output)],
        env=env, capture_output=True, text=True, timeout=3600, check=False,
    )
    assert done.returncode == 0, f"jupyter-book build failed:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    return output / "_build" / "html"


@pytest.fixture(scope="module")
def site(book_html: Path) -> Iterator[str]:
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(book_html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def cdn_reachable() -> bool:
    try:
        socket.create_connection((urlparse(MATHJAX_CDN).hostname, 443), timeout=3).close()
        return True
    except OSError:
        return False


def local_mathjax() -> Path | None:
    path = Path(os.environ.get("DROPOUT_THEORY_MATHJAX", ROOT / "node_modules" / "mathjax"))
    return path if (path / "es5" / "tex-mml-chtml.js").exists() else None


def serve_mathjax_from(page: Page, package: Path) -> None:
    """Answer the browser's requests for the CDN's MathJax with the same npm package's files."""

    def on_request(event: dict) -> None:
        request_id, url = event["params"]["requestId"], event["params"]["request"]["url"]
        relative = urlparse(url).path.split("/mathjax@3/", 1)[-1]
        path = (package / relative).resolve()
        if package.resolve() in path.parents and path.is_file():
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            page.send(
                "Fetch.fulfillRequest", requestId=request_id, responseCode=200,
                responseHeaders=[{"name": "Content-Type", "value": content_type}, {"name": "Access-Control-Allow-Origin", "value": "*"}],
                body=base64.b64encode(path.read_bytes()).decode(),
            )
        else:
            page.send("Fetch.failRequest", requestId=request_id, errorReason="FileNotFound")

    page.handlers["Fetch.requestPaused"] = on_request
    page.call("Fetch.enable", patterns=[{"urlPattern": MATHJAX_CDN + "*", "requestStage": "Request"}])


PAGE_REPORT_JS = r"""
(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  let mathjax = 'not used';
  if (document.querySelector('script[src*="mathjax"]')) {
    for (let i = 0; i < 600 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++) await sleep(100);
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; mathjax = 'typeset'; }
    else mathjax = 'never loaded';
  }
  const skipped = new Set(['SCRIPT', 'STYLE', 'PRE', 'CODE', 'TEXTAREA', 'NOSCRIPT', 'MJX-CONTAINER']);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {acceptNode(node) {
    for (let e = node.parentElement; e; e = e.parentElement)
      if (skipped.has(e.tagName) || e.classList.contains('highlight')) return NodeFilter.FILTER_REJECT;
    return NodeFilter.FILTER_ACCEPT;
  }});
  let text = '';
  while (walker.nextNode()) text += walker.currentNode.nodeValue + '\n';
  const raw = [];
  for (const token of ['$$', '\\(', '\\)', '\\[', '\\]', '\\begin{']) {
    const i = text.indexOf(token);
    if (i >= 0) raw.push(text.slice(Math.max(0, i - 50), i + 50).replace(/\s+/g, ' '));
  }
  const images = [...document.images];
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.complete ? null : new Promise(r => {
    img.addEventListener('load', r); img.addEventListener('error', r); setTimeout(r, 20000); })));
  return {
    mathjax,
    typeset: document.querySelectorAll('mjx-container').length,
    mathErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent),
    rawMath: raw,
    images: images.length,
    brokenImages: images.filter(i => !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0)).map(i => i.src),
    zeroSizeImages: images.filter(i => i.getClientRects().length > 0)
      .filter(i => { const r = i.getBoundingClientRect(); return r.width === 0 || r.height === 0; }).map(i => i.src),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href).filter(h => h.startsWith(location.origin)),
  };
})()
"""


def console_errors(events: list[dict]) -> list[str]:
    errors = []
    for event in events:
        params = event.get("params", {})
        if event["method"] == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(f"uncaught: {details.get('exception', {}).get('description', details.get('text'))}")
        elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append("console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(f"{params['entry']['source']}: {params['entry']['text']} {params['entry'].get('url', '')}")
    return errors


def book_pages(html: Path) -> list[str]:
    pages = []
    for path in sorted(html.rglob("*.html")):
        relative = path.relative_to(html).as_posix()
        if not relative.startswith(NOT_PAGES) and relative != "index.html":  # index.html only redirects
            pages.append(relative)
    return pages


@pytest.fixture(scope="module")
def reports(chromium: str, site: str, book_html: Path) -> dict[str, dict]:
    """Open every page once; the tests below each assert one property of the reports."""
    mathjax = None if cdn_reachable() else local_mathjax()
    if mathjax is None and not cdn_reachable():
        pytest.skip(
            f"MathJax is loaded from {MATHJAX_CDN}, unreachable here, and no local copy: run "
            "`npm install --no-save mathjax@3` in the repository or set $DROPOUT_THEORY_MATHJAX"
        )
    results: dict[str, dict] = {}
    for stale in SCREENSHOTS.glob("*.png"):
        stale.unlink()
    with Chromium(chromium) as browser:
        page = browser.new_page()
        if mathjax is not None:
            serve_mathjax_from(page, mathjax)
        for relative in book_pages(book_html):
            page.events.clear()
            page.navigate(site + relative)
            report = page.evaluate(PAGE_REPORT_JS, timeout_ms=120_000)
            page.pump(0.3)  # late console messages
            report["console"] = console_errors(page.events)
            results[relative] = report
            if relative in ("book/intro.html", "book/algorithm.html"):
                page.screenshot(SCREENSHOTS / f"{Path(relative).stem}.png")
        page.events.clear()
        page.navigate(site + "search.html?q=Bernoulli")
        results["search"] = page.evaluate(
            r"""(async () => {
              for (let i = 0; i < 600; i++) {
                const hits = document.querySelectorAll('#search-results ul.search li');
                const status = document.querySelector('#search-results .search-summary, #search-results p');
                if (hits.length > 0 || (status && /found|did not match/.test(status.textContent)))
                  return {hits: [...hits].map(li => li.querySelector('a') ? li.querySelector('a').href : li.textContent)};
                await new Promise(r => setTimeout(r, 100));
              }
              return {hits: [], timeout: true};
            })()""",
            timeout_ms=120_000,
        )
        results["search"]["console"] = console_errors(page.events)
    return results


def page_problems(reports: dict[str, dict], book_html: Path) -> dict[str, object]:
    problems: dict[str, object] = {}
    missing = sorted(set(book_pages(book_html)) - set(reports))
    if missing:
        problems["pages not opened"] = missing
    for page, report in reports.items():
        if page == "search":
            continue
        found = {}
        if report["mathjax"] == "never loaded":
            found["maths"] = "MathJax never loaded"
        if report["rawMath"]:
            found["raw TeX left in the text"] = report["rawMath"]
        if report["mathErrors"]:
            found["MathJax errors"] = report["mathErrors"]
        if report["brokenImages"]:
            found["images not loaded"] = report["brokenImages"]
        if report["zeroSizeImages"]:
            found["images of zero size"] = report["zeroSizeImages"]
        if report["console"]:
            found["console errors"] = report["console"]
        if found:
            problems[page] = found
    return problems


class IdCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


def broken_links(reports: dict[str, dict]) -> list[str]:
    """Internal links whose page does not load, or whose #fragment names no element there."""
    links = sorted({link for page, r in reports.items() if page != "search" for link in r["links"]})
    targets: dict[str, set[str]] = {}
    broken = []
    for link in links:
        url, fragment = urldefrag(link)
        if url not in targets:
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    body, content_type = response.read(), response.headers.get("Content-Type", "")
            except urllib.error.URLError as err:
                broken.append(f"{link}: {err}")
                continue
            parser = IdCollector()
            if "text/html" in content_type:
                parser.feed(body.decode("utf-8", errors="replace"))
            targets[url] = parser.ids
        if url in targets and fragment and fragment not in targets[url]:
            broken.append(f"{link}: no element with id {fragment!r}")
    return broken


@pytest.mark.browser
def test_the_built_book_in_headless_chromium(reports: dict[str, dict], book_html: Path) -> None:
    """One test, so that a parallel run (pytest -n) opens every page once, not once per worker."""
    problems = page_problems(reports, book_html)
    links = [link for r in reports.values() for link in r.get("links", [])]
    if not links:
        problems["links"] = "no internal links found at all"
    elif broken := broken_links(reports):
        problems["broken internal links"] = broken
    search = reports["search"]
    if search.get("timeout") or not search["hits"]:
        problems["search"] = "searching for 'Bernoulli' found no page" + (" (timed out)" if search.get("timeout") else "")
    elif not any("algorithm" in hit for hit in search["hits"]):
        problems["search"] = f"'Bernoulli' did not find the algorithm chapter: {search['hits']}"
    if search["console"]:
        problems["search page console errors"] = search["console"]
    algorithm = reports.get("book/algorithm.html", {})
    if algorithm.get("typeset", 0) <= 20:
        problems["algorithm chapter maths"] = f"only {algorithm.get('typeset')} formulas typeset"
    if algorithm.get("images", 0) < 2:
        problems["algorithm chapter figures"] = f"only {algorithm.get('images')} images"
    for name in ("intro", "algorithm"):
        shot = SCREENSHOTS / f"{name}.png"
        if not (shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"):
            problems[f"screenshot {shot}"] = "missing or not a PNG"
    assert not problems, "\n".join(f"{key}: {value}" for key, value in problems.items())


@pytest.mark.browser
def test_root_redirects_to_an_existing_page(book_html: Path) -> None:
    index = (book_html / "index.html").read_text(encoding="utf-8")
    found = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', index, flags=re.IGNORECASE)
    assert found, "index.html does not redirect"
    assert (book_html / found.group(1)).is_file(), found.group(1)


def test_repeated_inline_scripts_are_dropped_in_place() -> None:
    from sphinx.builders.html._assets import _JavaScript

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        from unique_scripts import drop_repeated_scripts
    finally:
        sys.path.remove(str(ROOT / "book" / "_ext"))
    config = "const THEBE_JS_URL = 1"
    scripts = [
        _JavaScript(None, body=config), _JavaScript("a.js"), _JavaScript("", body=config),
        _JavaScript("a.js", **{"async": "async"}), _JavaScript("a.js"),
    ]
    context = {"script_files": scripts}
    drop_repeated_scripts(None, "page", "page.html", context, None)
    assert context["script_files"] is scripts  # the builder's own list, so later handlers still add to it
    assert scripts == [_JavaScript(None, body=config), _JavaScript("a.js"), _JavaScript("a.js", **{"async": "async"})]
