"""The issue's speed target on the navigation env: SHAC's collision-free rate after 1e5 env
steps and the training seconds those steps took, per preset and seed.

Runs ``diffenvs-train shac --env DiffNav-PointMass-v0 --preset P --seed S --steps 100000``
in a subprocess (one at a time, torch's default threads: run it on a quiet machine), with
one evaluation at the end (``--episodes`` episodes, the trainer's deterministic policy, the
preset's own env options, i.e. with the 1 m training noise). ``wall_time`` is the trainer's
training time (evaluations and start-up excluded); ``process_s`` the whole command.

    python benchmarks/nav_time_to_1e5.py --out benchmarks/results/nav_time_to_1e5
    python benchmarks/nav_time_to_1e5.py --presets fast --seeds 0 1   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from timing import machine

ENV = "DiffNav-PointMass-v0"


def run(preset: str, seed: int, steps: int, episodes: int, log_root: str) -> dict:
    log_dir = os.path.join(log_root, f"{preset}_s{seed}")
    cmd = [sys.executable, "-m", "trainers", "shac", "--env", ENV, "--preset", preset, "--seed", str(seed),
           "--steps", str(steps), "--log-dir", log_dir, "--overwrite", "--no-progress", "--set", "eval_every=0",
           "--set", f"eval_envs={episodes}", "--no-tensorboard", "--json"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    process_s = time.perf_counter() - t0
    result = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    return {"preset": preset, "seed": seed, "env_steps": result["env_steps"], "wall_time": result["wall_time"],
            "process_s": round(process_s, 1), "collision_free": result["eval_metric"],
            "success": result["eval_success"], "speed_error": result["final_speed_error"],
            "distance": result["final_distance"]}


def table(rows: list[dict]) -> str:
    lines = ["| preset | seeds | training s | collision-free | success | speed error, m/s | "
             "distance, m |", "|---|---|---|---|---|---|---|"]
    for preset in dict.fromkeys(r["preset"] for r in rows):
        rs = [r for r in rows if r["preset"] == preset]

        def cell(key, fmt="{:.2f}", rs=rs):
            v = [r[key] for r in rs]
            spread = f" ± {fmt.format(statistics.stdev(v))}" if len(v) > 1 else ""
            return f"{fmt.format(statistics.mean(v))}{spread} ({fmt.format(min(v))}–{fmt.format(max(v))})"

        lines.append(f"| {preset} | {', '.join(str(r['seed']) for r in rs)} | {cell('wall_time', '{:.1f}')} | "
                     f"{cell('collision_free', '{:.3f}')} | {cell('success')} | {cell('speed_error')} | "
                     f"{cell('distance', '{:.1f}')} |")
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["default", "fast", "quick"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--episodes", type=int, default=200, help="evaluation episodes at the end")
    parser.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    parser.add_argument("--log-root", default="/tmp/nav_time_to_1e5")
    args = parser.parse_args(argv)
    rows = []
    for preset in args.presets:
        for seed in args.seeds:
            rows.append(run(preset, seed, args.steps, args.episodes, args.log_root))
            print(json.dumps(rows[-1]), flush=True)
    text = table(rows)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out + ".json", "w") as fh:
            json.dump({"machine": machine(), "rows": rows}, fh, indent=1)
        with open(args.out + ".md", "w") as fh:
            fh.write(text + "\n")
    return rows


if __name__ == "__main__":
    main()
