"""Cached experiment results: one JSON file per (experiment, scale), written atomically.

An experiment is a set of independent *units* (one seed, one setting). Each finished unit
is written to disk at once (temporary file, then ``os.replace``), so an interrupted run
loses nothing already finished and the next run resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

RESULTS_ENV_VAR = "DROPOUT_THEORY_RESULTS"


def default_results_dir() -> Path:
    """``$DROPOUT_THEORY_RESULTS`` or ``results/`` at the root of this checkout."""
    override = os.environ.get(RESULTS_ENV_VAR)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "results"


def results_path(name: str, scale: str, results_dir: Path | None = None) -> Path:
    return (results_dir or default_results_dir()) / f"{name}-{scale}.json"


class ResultStore:
    """Units of one experiment run, persisted after every :meth:`put`.

    Args:
        path: the JSON file.
        metadata: what produced the results (experiment, scale, versions...); stored as is.
    """

    def __init__(self, path: Path, metadata: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.metadata = dict(metadata or {})
        self.units: dict[str, Any] = {}
        if self.path.exists():
            stored = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(stored, dict) or "units" not in stored:
                raise ValueError(f"{self.path} is not a results file (no 'units' key)")
            self.units = dict(stored["units"])
            self.metadata = {**stored.get("metadata", {}), **self.metadata}

    def __contains__(self, key: str) -> bool:
        return key in self.units

    def get(self, key: str) -> Any:
        return self.units[key]

    def put(self, key: str, value: Any) -> None:
        self.units[key] = value
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"metadata": self.metadata, "units": self.units}, indent=1, sort_keys=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".partial")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def load_results(name: str, scale: str = "small", results_dir: Path | None = None) -> ResultStore:
    """The cached results a chapter shows; a clear error says how to produce missing ones."""
    path = results_path(name, scale, results_dir)
    if not path.exists():
        raise FileNotFoundError(
            f"no cached results at {path}; produce them with `python -m dropout_theory reproduce {name} --scale {scale}`"
        )
    return ResultStore(path)
