"""Execute every chapter listed in _toc.yml, as the book build does (jupytext + nbclient).

A failing cell fails the test with that cell's source and traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
# Generous limits, as in _config.yml's `execute: timeout`: under `-n 2` another worker may be
# building the whole book (tests/test_browser.py), and a slow machine must not fail a chapter.
CELL_TIMEOUT_S = 300
KERNEL_STARTUP_TIMEOUT_S = 180


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))
            walk(entry.get("chapters", []))

    walk(toc.get("chapters", []))
    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    return files


def test_toc_lists_only_existing_chapters() -> None:
    missing = [f for f in toc_files() if not (ROOT / f"{f}.md").exists()]
    assert not missing, f"_toc.yml lists chapters without a .md file: {missing}"


def test_every_chapter_with_code_is_executable_myst() -> None:
    for f in toc_files():
        text = (ROOT / f"{f}.md").read_text(encoding="utf-8")
        if "{code-cell}" in text:
            assert "format_name: myst" in text.split("---")[1], f"{f}.md lacks jupytext front matter: it would not execute"


@pytest.mark.chapter
@pytest.mark.parametrize("chapter", toc_files())
def test_chapter_executes(chapter: str) -> None:
    path = ROOT / f"{chapter}.md"
    notebook = jupytext.read(path, fmt="md:myst")
    if not any(cell.cell_type == "code" for cell in notebook.cells):
        pytest.skip(f"{chapter} has no code cells")
    nbformat.validate(notebook)
    env_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ["PYTHONPATH"] = env_path  # the kernel imports this checkout's package
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, startup_timeout=KERNEL_STARTUP_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{chapter}.md failed to execute:\n{err}", pytrace=False)
