"""``python -m dropout_theory bench [--only NAME...] [--json PATH] [--device DEV] [--quick]``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="run the benchmarks: ratios against baselines measured in the same run",
        description="Run benchmarks on this machine, print a table of ratios and their targets, and write JSON "
        "(machine, torch version, device, dtype, sizes, median and spread of repeated timings). "
        "With --only and the default --json path, the named benches replace their entries in the existing file.",
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benches (see --list)")
    parser.add_argument("--list", action="store_true", help="list the benches and exit")
    parser.add_argument(
        "--json", type=Path, default=None, help="output file (default: results/bench-<device>[-quick].json)"
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (a smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.set_defaults(run=run)


def default_json_path(device: torch.device, quick: bool) -> Path:
    """``results/bench-<device>.json`` of this checkout (or ``$DROPOUT_THEORY_RESULTS``)."""
    from dropout_theory.experiments.store import default_results_dir

    return default_results_dir() / f"bench-{device.type}{'-quick' if quick else ''}.json"


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run (recorded in the JSON)."""
    words = ["python -m dropout_theory bench"]
    if args.only:
        words.append("--only " + " ".join(args.only))
    for flag, value in (("--device", args.device), ("--threads", args.threads), ("--json", args.json)):
        if value is not None:
            words.append(f"{flag} {value}")
    if args.quick:
        words.append("--quick")
    return " ".join(words)


def run(args: argparse.Namespace) -> int:
    from dropout_theory.benchmarks import BENCHES, format_table, machine_info, run_bench
    from dropout_theory.devices import default_device

    if args.list:
        for bench in BENCHES.values():
            print(f"{bench.name:20s} {bench.description}")
        return 0
    unknown = sorted(set(args.only or ()) - set(BENCHES))
    if unknown:
        print(f"unknown bench(es): {', '.join(unknown)}; known: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    device = torch.device(args.device) if args.device else default_device()
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"--device {args.device}: CUDA is not available", file=sys.stderr)
        return 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    path = args.json or default_json_path(device, args.quick)
    report = {
        "machine": machine_info(device, torch.float32),
        "quick": args.quick,
        "command": command_line(args),
        "benches": {},
    }
    if args.only and args.json is None and path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))
        report["benches"] = previous.get("benches", {})
    for name in args.only or BENCHES:
        print(f"[{name}] {BENCHES[name].description}", flush=True)
        started = time.perf_counter()
        result = run_bench(BENCHES[name], device, quick=args.quick)
        if "skipped" in result:
            print(f"  skipped: {result['skipped']}", flush=True)
        else:
            result["machine"] = machine_info(device, torch.float32)
            result["wall_s"] = round(time.perf_counter() - started, 2)
        report["benches"][name] = result
    print()
    print(format_table({name: report["benches"][name] for name in args.only or BENCHES}))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees half a file
    print(f"\nresults: {path}")
    return 0
