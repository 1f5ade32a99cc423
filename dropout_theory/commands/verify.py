"""``python -m dropout_theory verify [IDS...] [--json] [--device DEV]``."""

from __future__ import annotations

import argparse
import json
import sys

import torch


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="run every claim's checks (or the given ids/chapters) and report verdicts",
        description="Run claims' checks. Exit status 1 when any verdict differs from its expectation.",
    )
    parser.add_argument("ids", nargs="*", help="claim ids or chapter names (default: all)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--device", default=None, help="default torch device for the checks, e.g. cuda")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dropout_theory.claims import verify

    if args.device is not None:
        if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
            print(f"--device {args.device}: CUDA is not available", file=sys.stderr)
            return 2
        torch.set_default_device(args.device)
    try:
        verdicts = verify(args.ids or None)
    except KeyError as err:
        print(err.args[0], file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([v.to_dict() for v in verdicts], indent=2))
    else:
        rows = [
            (
                v.claim.id,
                ",".join(sorted({e.kind for e in v.evidence})),
                v.outcome + ("" if v.as_expected else f" (EXPECTED {v.claim.expectation.upper()})"),
                "; ".join(e.detail for e in v.evidence)[:100],
            )
            for v in verdicts
        ]
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(("id", "evidence", "verdict", "detail"))]
        for row in [("id", "evidence", "verdict", "detail"), *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        bad = sum(not v.as_expected for v in verdicts)
        print(f"{len(verdicts) - bad} of {len(verdicts)} claims as expected")
    return 0 if all(v.as_expected for v in verdicts) else 1
