"""What the evaluation scripts of the results pages share: finding a sweep's final
checkpoints and writing a Markdown table with its JSON data (imported by the scripts in
this folder, which run from it)."""

from __future__ import annotations

import glob
import json
import os
from typing import Any


def sweep_checkpoints(results: str, variant: str, algo: str, env: str) -> list[str]:
    """The final checkpoint of every seed of one (variant, algorithm, env) of a sweep's output
    folder, in seed order; ``SystemExit`` naming the pattern when there are none."""
    pattern = os.path.join(results, "runs", variant, algo, env, "s*", "checkpoint.pt")
    checkpoints = sorted(glob.glob(pattern))
    if not checkpoints:
        raise SystemExit(f"no checkpoints match {pattern}; run the sweep with --keep-checkpoints")
    return checkpoints


def write_report(out: str | None, table: str, result: dict[str, Any], indent: int = 1) -> dict[str, Any]:
    """Print ``table``; with ``out`` (a path stem) also write ``out.md`` and ``out.json``. Returns ``result``."""
    print(table)
    if out:
        with open(out + ".md", "w") as fh:
            fh.write(table + "\n")
        with open(out + ".json", "w") as fh:
            json.dump(result, fh, indent=indent)
    return result


def add_run_options(parser) -> None:
    """The options the quadruped evaluation scripts share: shorter episodes, torch threads, outputs."""
    parser.add_argument("--max-episode-steps", type=int, default=None, help="shorter episodes (tests)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="path stem of the .md and .json outputs")


def apply_run_options(args) -> dict[str, Any]:
    """Set the torch threads of ``args``; returns the env keyword arguments (episode length)."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    return {} if args.max_episode_steps is None else {"max_episode_steps": args.max_episode_steps}
