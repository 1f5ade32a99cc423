"""Show a claim and its evidence in a chapter (HTML in the book, text in a terminal).

:func:`show_claim` runs the check and *raises* when the verdict differs from the claim's
expectation, so a chapter whose claim breaks fails to execute, and with it the test suite
and the book build.
"""

from __future__ import annotations

import html
import math

from dropout_theory.claims import REGISTRY, Claim, Verdict


class ClaimMismatch(AssertionError):
    """A claim's verdict differs from its expectation."""


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if value == 0 or (1e-3 <= abs(value) < 1e5):
        return f"{value:.6g}"
    if math.isinf(value) or math.isnan(value):
        return str(value)
    return f"{value:.3e}"


class ClaimReport:
    """A verdict rendered as a small table."""

    columns = ("evidence", "supports", "estimate", "target", "tolerance", "false alarm", "detail")

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict

    def rows(self) -> list[tuple[str, ...]]:
        return [
            (
                e.kind,
                "yes" if e.holds else "no",
                _number(e.estimate),
                _number(e.target),
                _number(e.tolerance),
                _number(e.false_alarm),
                e.detail,
            )
            for e in self.verdict.evidence
        ]

    def headline(self) -> str:
        c = self.verdict.claim
        mark = "as expected" if self.verdict.as_expected else "NOT AS EXPECTED"
        return f"{c.id}: {self.verdict.outcome} (expected {c.expectation}; {mark})"

    def _repr_html_(self) -> str:
        c = self.verdict.claim
        head = "".join(f"<th>{html.escape(col)}</th>" for col in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in self.rows()
        )
        colour = "#1a7f37" if self.verdict.as_expected else "#cf222e"
        return (
            f'<div class="claim-report"><p><strong style="color:{colour}">{html.escape(self.verdict.outcome)}</strong>'
            f" &mdash; <code>{html.escape(c.id)}</code> (expected: {html.escape(c.expectation)};"
            f" source: {html.escape(c.source)}; {self.verdict.seconds:.2f} s)</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        )

    def __repr__(self) -> str:
        widths = [max(len(col), *(len(r[i]) for r in self.rows())) for i, col in enumerate(self.columns)]
        lines = [self.headline(), "  ".join(col.ljust(w) for col, w in zip(self.columns, widths))]
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in self.rows()]
        return "\n".join(lines)


def show_claim(claim: str | Claim) -> ClaimReport:
    """Run a claim's check and return its report; raise :class:`ClaimMismatch` if unexpected."""
    found = REGISTRY[claim] if isinstance(claim, str) else claim
    report = ClaimReport(found.run())
    if not report.verdict.as_expected:
        raise ClaimMismatch(repr(report))
    return report
