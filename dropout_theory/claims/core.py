"""Claim, Evidence, Verdict, and the decorator that registers a claim.

A claim module (one per chapter, or a subpackage of modules for a long chapter) defines
functions returning evidence and decorates them with :func:`claim`; the decorator builds the
:class:`Claim` and records it. The registry itself (:data:`dropout_theory.claims.REGISTRY`)
imports those modules on first use.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

EvidenceKind = Literal["symbolic", "exact", "monte-carlo", "experiment"]
EVIDENCE_KINDS: tuple[str, ...] = ("symbolic", "exact", "monte-carlo", "experiment")
Expectation = Literal["holds", "refuted"]


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence about a claim's statement.

    ``holds`` says whether *this evidence supports the statement*. For a refuted claim
    (a popular but wrong statement) the evidence is expected not to hold.
    """

    kind: EvidenceKind
    holds: bool
    detail: str
    estimate: float | None = None
    target: float | None = None
    tolerance: float | None = None
    false_alarm: float | None = None
    samples: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVIDENCE_KINDS:
            raise ValueError(f"kind must be one of {EVIDENCE_KINDS}, got {self.kind!r}")
        if not isinstance(self.holds, bool):
            # numpy/torch booleans sneak in easily; keep verdict logic plain Python.
            object.__setattr__(self, "holds", bool(self.holds))


@dataclass(frozen=True)
class Claim:
    """A statement about dropout, where it comes from, and how to check it.

    Attributes:
        id: unique and stable, ``"<chapter>.<slug>"``.
        title: a short name.
        statement: the statement in Markdown with LaTeX maths.
        source: bibtex key(s) in ``book/references.bib``, comma-separated.
        chapter: the chapter (``book/<chapter>.md``) that presents it.
        check: returns the evidence; runs in seconds.
        expectation: ``"holds"``, or ``"refuted"`` for a statement shown to be false.
        catalogue: the items of ``shared/CLAIMS.md`` it covers (e.g. ``("A2", "P2")``).
    """

    id: str
    title: str
    statement: str
    source: str
    chapter: str
    check: Callable[[], Sequence[Evidence]] = field(repr=False)
    expectation: Expectation = "holds"
    catalogue: tuple[str, ...] = ()

    def run(self) -> Verdict:
        start = time.perf_counter()
        evidence = list(self.check())
        if not evidence:
            raise RuntimeError(f"claim {self.id!r} returned no evidence")
        for item in evidence:
            if not isinstance(item, Evidence):
                raise TypeError(f"claim {self.id!r} returned {type(item).__name__}, not Evidence")
        return Verdict(self, evidence, time.perf_counter() - start)


@dataclass(frozen=True)
class Verdict:
    """The outcome of running a claim's check."""

    claim: Claim
    evidence: list[Evidence]
    seconds: float = 0.0

    @property
    def outcome(self) -> str:
        """``holds`` if all evidence supports the statement, ``refuted`` if none does,
        ``inconclusive`` otherwise (never what any claim expects)."""
        supports = [e.holds for e in self.evidence]
        if all(supports):
            return "holds"
        if not any(supports):
            return "refuted"
        return "inconclusive"

    @property
    def as_expected(self) -> bool:
        return self.outcome == self.claim.expectation

    def to_dict(self) -> dict:
        return {
            "id": self.claim.id,
            "title": self.claim.title,
            "expectation": self.claim.expectation,
            "outcome": self.outcome,
            "as_expected": self.as_expected,
            "seconds": round(self.seconds, 4),
            "evidence": [
                {k: getattr(e, k) for k in ("kind", "holds", "detail", "estimate", "target", "tolerance", "false_alarm", "samples")}
                for e in self.evidence
            ],
        }


EXACT_TOLERANCE = 1e-12


def exact_evidence(error: float, detail: str, tol: float = EXACT_TOLERANCE) -> Evidence:
    """Exact evidence: a float64 computation whose error against the statement is ``error``.

    Holds when ``error <= tol``; the default ``1e-12`` leaves room for float64 rounding only.
    """
    return Evidence("exact", bool(error <= tol), detail, estimate=float(error), target=0.0, tolerance=tol)


def symbolic_evidence(holds: bool, detail: str) -> Evidence:
    """Symbolic evidence: ``holds`` is sympy's verdict (e.g. a difference simplified to 0)."""
    return Evidence("symbolic", bool(holds), detail)


_DEFINED: dict[str, Claim] = {}
_PACKAGE = "dropout_theory.claims."


def _chapter_of(module: str) -> str:
    """The chapter of a claim module: the first component after ``dropout_theory.claims.``."""
    if not module.startswith(_PACKAGE):
        raise ValueError(f"claims must be defined in a module under {_PACKAGE.rstrip('.')}, not {module!r}")
    return module[len(_PACKAGE):].split(".", 1)[0].replace("_", "-")


def claim(
    id: str,
    *,
    title: str,
    statement: str,
    source: str,
    expectation: Expectation = "holds",
    catalogue: Sequence[str] = (),
) -> Callable[[Callable[[], Sequence[Evidence]]], Claim]:
    """Register the decorated evidence function as a :class:`Claim`.

    The chapter is the name of the claim module, or of the chapter subpackage that holds it,
    with ``_`` -> ``-`` (``claims/algorithm.py`` -> ``algorithm``,
    ``claims/ensemble/bounds.py`` -> ``ensemble``), and the id must start with it, so an id
    says where its claim lives.
    """

    def register(check: Callable[[], Sequence[Evidence]]) -> Claim:
        chapter = _chapter_of(check.__module__)
        if not id.startswith(chapter + "."):
            raise ValueError(f"claim id {id!r} must start with its chapter {chapter!r} + '.'")
        if id in _DEFINED:
            raise ValueError(f"duplicate claim id {id!r}")
        if expectation not in ("holds", "refuted"):
            raise ValueError(f"expectation must be 'holds' or 'refuted', got {expectation!r}")
        made = Claim(id, title, statement, source, chapter, check, expectation, tuple(catalogue))
        _DEFINED[id] = made
        return made

    return register


def defined_claims() -> dict[str, Claim]:
    return dict(_DEFINED)
