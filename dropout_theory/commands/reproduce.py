"""``python -m dropout_theory reproduce NAME [--scale ...] [--device ...] [--seeds N]``."""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="run an experiment and cache its results as JSON (resumes an interrupted run)",
        description="Run a registered experiment. Results go to results/NAME-SCALE.json, written after every "
        "finished unit, so an interrupted run resumes where it stopped.",
    )
    parser.add_argument("name", nargs="?", help="experiment name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    parser.add_argument("--scale", default="small", choices=("smoke", "small", "paper"))
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the experiment's)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    parser.add_argument("--data-path", type=Path, default=None, help="directory with full MNIST IDX files (paper scale)")
    parser.add_argument("--results-dir", type=Path, default=None, help="where the JSON goes (default: results/)")
    parser.add_argument("--fresh", action="store_true", help="discard cached units and start again")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dropout_theory.devices import default_device
    from dropout_theory.experiments import EXPERIMENTS, ResultStore, RunConfig, results_path

    if args.list or not args.name:
        for name in EXPERIMENTS:
            print(f"{name:28s} {EXPERIMENTS[name].description}")
        return 0 if args.list else 2
    try:
        chosen = EXPERIMENTS[args.name]
    except KeyError as err:
        print(err.args[0], file=sys.stderr)
        return 2
    if args.threads is not None:
        if args.threads < 1:
            print(f"--threads must be >= 1, got {args.threads}", file=sys.stderr)
            return 2
        torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else default_device()
    config = RunConfig(
        scale=args.scale,
        seeds=args.seeds or chosen.default_seeds,
        device=device,
        data_path=args.data_path,
        progress=not args.no_progress,
    )
    path = results_path(chosen.name, config.scale, args.results_dir)
    if args.fresh and path.exists():
        path.unlink()
    metadata = {
        "experiment": chosen.name,
        "scale": config.scale,
        "seeds": config.seeds,
        "device": str(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    store = ResultStore(path, metadata)
    chosen.run(config, store)
    print(f"results: {path} ({len(store.units)} units)")
    return 0
