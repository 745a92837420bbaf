"""How long the first hour's commands take on this machine: the demo's main job and the
README's first training commands, each timed as a whole process (start-up included), with
the machine and its load average before each command (a loaded machine runs slower).

    python benchmarks/run_times.py --out benchmarks/results/run_times
    python benchmarks/run_times.py --quick      # tiny budgets (the tests)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from timing import machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def commands(work: str, quick: bool) -> list[tuple[str, list[str]]]:
    """``(what, argv)`` of every timed command; outputs go under ``work``."""
    train = [sys.executable, "-m", "trainers"]
    tiny = ["--set", "num_envs=4", "--set", "eval_envs=2"] if quick else []
    return [
        ("demo main job: ABPT on Hover, curve and animation (scripts/demo.sh after its set-up)",
         [sys.executable, os.path.join(ROOT, "examples", "train_abpt.py"), "--out", os.path.join(work, "demo")]
         + (["--tiny"] if quick else [])),
        ("README toy: diffenvs-train bptt --env DiffPointMass-Reach-v0 --steps 65536",
         train + ["bptt", "--env", "DiffPointMass-Reach-v0", "--steps", "256" if quick else "65536", "--no-progress",
                  "--log-dir", os.path.join(work, "toy")] + tiny),
        ("diffenvs-train shac --env DiffQuad-Hover-v0 --steps 1000000",
         train + ["shac", "--env", "DiffQuad-Hover-v0", "--steps", "256" if quick else "1000000", "--no-progress",
                  "--log-dir", os.path.join(work, "shac")] + tiny),
    ]


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="path stem of the .md and .json outputs")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for what, argv_ in commands(work, args.quick):
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            subprocess.run(argv_, check=True, cwd=work, stdout=subprocess.DEVNULL,
                           env={**os.environ, "MPLBACKEND": "Agg"})
            rows.append({"command": what, "seconds": round(time.perf_counter() - t0, 1), "load_before": load})
            print(json.dumps(rows[-1]), flush=True)
    info = machine()
    lines = [f"Whole-process seconds on {info['cpu']} ({info['cores']} cores, torch {info['torch']}); load average "
             f"(1 min) before each command", "", "| command | seconds | load before |", "|---|---|---|"]
    lines += [f"| {r['command']} | {r['seconds']:.0f} | {r['load_before']:.1f} |" for r in rows]
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out + ".md", "w") as fh:
            fh.write(table + "\n")
        with open(args.out + ".json", "w") as fh:
            json.dump({"machine": info, "rows": rows}, fh, indent=1)
    return rows


if __name__ == "__main__":
    main()
