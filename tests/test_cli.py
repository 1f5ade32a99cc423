"""The command line: help lists the commands; verify reports verdicts and its exit status."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dropout_theory.__main__ import main
from dropout_theory.claims import REGISTRY
from dropout_theory.claims.core import _DEFINED, Claim, Evidence


def test_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "dropout_theory", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("verify", "reproduce", "bench"):
        assert command in out


def test_verify_json_for_one_claim(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "algorithm.all-dropped", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["id"] == "algorithm.all-dropped" and row["as_expected"] and row["outcome"] == "holds"
    assert {e["kind"] for e in row["evidence"]} == {"exact", "monte-carlo"}


def test_verify_exits_nonzero_when_a_verdict_is_unexpected(capsys: pytest.CaptureFixture[str]) -> None:
    broken = Claim("algorithm.cli-test-broken", "t", "s", "srivastava2014dropout", "algorithm",
                   lambda: [Evidence("exact", False, "planted failure")])
    _DEFINED[broken.id] = broken
    try:
        assert broken.id in REGISTRY
        assert main(["verify", broken.id]) == 1
        out = capsys.readouterr().out
        assert "EXPECTED HOLDS" in out and "0 of 1 claims as expected" in out
    finally:
        del _DEFINED[broken.id]


def test_verify_unknown_id_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "no-such-chapter.claim"]) == 2
    assert "no claim or chapter matches" in capsys.readouterr().err
