"""Every registered claim: its verdict equals its expectation, and the registry is sound."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dropout_theory.claims import REGISTRY, Evidence, verify
from dropout_theory.claims.core import Claim, Verdict

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("claim_id", list(REGISTRY))
def test_claim_verdict_matches_expectation(claim_id: str) -> None:
    verdict = REGISTRY[claim_id].run()
    details = "\n".join(f"  {e.kind}: holds={e.holds} {e.detail} (estimate={e.estimate}, target={e.target}, tol={e.tolerance})" for e in verdict.evidence)
    assert verdict.as_expected, f"{claim_id}: {verdict.outcome}, expected {verdict.claim.expectation}\n{details}"


@pytest.mark.parametrize("claim_id", list(REGISTRY))
def test_claim_is_presented_in_its_chapter(claim_id: str) -> None:
    claim = REGISTRY[claim_id]
    chapter = ROOT / "book" / f"{claim.chapter}.md"
    assert chapter.exists(), f"{claim_id}: chapter {chapter} does not exist"
    assert claim_id in chapter.read_text(encoding="utf-8"), f"{claim_id} is not shown in {chapter.name}"


@pytest.mark.parametrize("claim_id", list(REGISTRY))
def test_claim_sources_are_in_the_bibliography(claim_id: str) -> None:
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    for key in REGISTRY[claim_id].source.split(","):
        assert key.strip() in keys, f"{claim_id}: source {key.strip()!r} is not in references.bib"


def test_ids_are_unique_and_well_formed() -> None:
    ids = list(REGISTRY)
    assert len(ids) == len(set(ids))
    for claim_id in ids:
        assert re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+", claim_id), claim_id


def test_verdict_logic() -> None:
    def make(expectation: str, *supports: bool) -> Verdict:
        c = Claim("x.y", "t", "s", "k", "x", lambda: [], expectation)  # type: ignore[arg-type]
        return Verdict(c, [Evidence("exact", s, "") for s in supports])

    assert make("holds", True, True).as_expected
    assert not make("holds", True, False).as_expected
    assert make("refuted", False, False).as_expected
    assert not make("refuted", True, False).as_expected  # inconclusive is never expected
    assert make("refuted", True, False).outcome == "inconclusive"


def test_verify_selects_by_chapter_and_rejects_unknown_ids() -> None:
    verdicts = verify(["algorithm.kept-count-binomial"])
    assert [v.claim.id for v in verdicts] == ["algorithm.kept-count-binomial"]
    assert {v.claim.chapter for v in verify(["algorithm"])} == {"algorithm"}
    with pytest.raises(KeyError, match="no claim"):
        verify(["no-such-chapter"])


def test_chapter_is_the_module_or_subpackage_under_claims() -> None:
    from dropout_theory.claims.core import _chapter_of

    assert _chapter_of("dropout_theory.claims.algorithm") == "algorithm"
    assert _chapter_of("dropout_theory.claims.newer_theory.variance_shift") == "newer-theory"
    assert REGISTRY["ensemble.nwgm-bounds"].check.__module__ == "dropout_theory.claims.ensemble.bounds"
    assert REGISTRY["ensemble.nwgm-bounds"].chapter == "ensemble"
    with pytest.raises(ValueError, match="under dropout_theory.claims"):
        _chapter_of("somewhere.else")


def test_evidence_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        Evidence("vibes", True, "")  # type: ignore[arg-type]
