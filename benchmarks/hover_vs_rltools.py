"""Hover time-to-solve, side by side: diffenvs' ABPT against rltools' TD3 on Learning to Fly.

For every seed, interleaved in one run of this script on one machine:

* **diffenvs**: ``diffenvs-train abpt --env DiffQuad-Hover-v0`` (paper preset) in a subprocess,
  evaluated every ``--eval-every`` env steps on 100 episodes (the trainer's evaluation: position
  error at the episode's end); time is the trainer's training wall-clock (evaluations excluded),
  read from its ``progress.csv``.
* **rltools TD3** (``pip install -e ".[peers]"``): rltools 2.2.1's TD3 training loop, compiled
  once by rltools with the l2f package's own hover environment (Crazyflie, 100 Hz, 5 s episodes,
  initial attitudes up to 90 degrees, the "Learning to Fly in Seconds" set-up), ``--td3-steps``
  env steps. Every ``--td3-eval-every`` steps the loop pauses (the clock too) and the current
  policy flies 16 episodes in l2f's Python simulator of the same environment; the metric is the
  position error at the episode's end (or where it terminated), averaged.

A seed *solves* Hover when an evaluation is below ``--threshold`` (0.1 m); it *stays solved*
when its last 5 evaluations all are. The table gives per algorithm the seeds solved, the seeds
that stay solved and the median (min-max) training seconds and env steps to the first solving
evaluation, and the ratio of the medians (ours / theirs).

    python benchmarks/hover_vs_rltools.py --seeds 0 1 2 3 4 5 --out benchmarks/results/hover_vs_rltools
    python benchmarks/hover_vs_rltools.py --seeds 0 --abpt-steps 200000 --td3-steps 20000   # a quick look
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ENVIRONMENT_H = """// Written by benchmarks/hover_vs_rltools.py: the l2f package's hover environment under the name
// rltools' training interface expects.
#pragma once
#include "{header}"

template <typename T, typename TI>
using ENVIRONMENT_FACTORY =
    typename env_builder::ENVIRONMENT_FACTORY<rl_tools::devices::DefaultCPU, T, TI>::ENVIRONMENT;
"""
EVAL_EPISODES = 16
EPISODE_STEPS = 500  # 5 s at l2f's 100 Hz
STAY = 5  # evaluations at the end that must all be solved


# ----------------------------------------------------------------------------- rltools TD3
def build_td3(step_limit: int, verbose: bool = False):
    """rltools' TD3 loop on l2f's hover environment (compiled by rltools on first use, then cached)."""
    import l2f
    import rltools

    folder = os.path.join(tempfile.gettempdir(), "diffenvs_rltools_l2f")
    os.makedirs(folder, exist_ok=True)
    text = ENVIRONMENT_H.format(header=os.path.join(os.path.dirname(l2f.__file__), "environment.h"))
    path = os.path.join(folder, "environment.h")
    if not os.path.exists(path) or open(path).read() != text:
        with open(path, "w") as fh:
            fh.write(text)
    obs_dim = l2f.vector_selector[1].VectorEnvironment().OBSERVATION_DIM
    return rltools.TD3({"path": folder, "action_dim": 4, "observation_dim": obs_dim}, STEP_LIMIT=step_limit,
                       enable_evaluation=False, interface_name="diffenvs_hover", verbose=verbose)


class L2FEvaluator:
    """Flies a policy ``obs -> action`` for :data:`EVAL_EPISODES` episodes in l2f's Python simulator."""

    def __init__(self, seed: int):
        import l2f

        self.v, self.device = l2f.vector_selector[EVAL_EPISODES], l2f.Device()
        self.rng, self.env = self.v.VectorRng(), self.v.VectorEnvironment()
        self.params, self.state, self.next = self.v.VectorParameters(), self.v.VectorState(), self.v.VectorState()
        self.v.initialize_rng(self.device, self.rng, seed)
        self.v.initialize_environment(self.device, self.env)
        self.v.initial_parameters(self.device, self.env, self.params)
        self.obs = np.zeros((EVAL_EPISODES, self.env.OBSERVATION_DIM), dtype=np.float32)
        self.terminated = np.zeros(EVAL_EPISODES, dtype=bool)

    def __call__(self, action) -> float:
        v, d = self.v, self.device
        v.sample_initial_state(d, self.env, self.params, self.state, self.rng)
        alive = np.ones(EVAL_EPISODES, dtype=bool)
        error = np.zeros(EVAL_EPISODES)
        for _ in range(EPISODE_STEPS):
            v.observe(d, self.env, self.params, self.state, self.obs, self.rng)
            act = np.stack([action(o) for o in self.obs]).astype(np.float32)
            v.step(d, self.env, self.params, self.state, act, self.next, self.rng)
            self.state, self.next = self.next, self.state
            pos = np.array([s.position for s in self.state.states])
            error = np.where(alive, np.linalg.norm(pos, axis=-1), error)  # frozen where it terminated
            v.terminated(d, self.env, self.params, self.state, self.terminated, self.rng)
            alive &= ~self.terminated
        return float(error.mean())


def run_td3(module, seed: int, steps: int, eval_every: int) -> list[dict]:
    state, evaluate = module.State(seed), L2FEvaluator(1000 + seed)
    rows, train_s = [], 0.0
    for done in range(eval_every, steps + 1, eval_every):
        t0 = time.perf_counter()
        for _ in range(eval_every):
            state.step()
        train_s += time.perf_counter() - t0
        rows.append({"env_steps": done, "wall_time": train_s, "eval_metric": evaluate(state.action)})
    return rows


# ----------------------------------------------------------------------------- diffenvs ABPT
def run_abpt(seed: int, steps: int, eval_every: int, out: str) -> list[dict]:
    log_dir = os.path.join(out, f"abpt-s{seed}")
    cmd = [sys.executable, "-m", "trainers", "abpt", "--env", "DiffQuad-Hover-v0", "--seed", str(seed), "--steps",
           str(steps), "--eval-every", str(eval_every), "--log-dir", log_dir, "--no-progress", "--no-tensorboard"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(log_dir, "progress.csv")) as fh:  # read without torch (rltools links MKL)
        rows = [r for r in csv.DictReader(fh) if r["eval_metric"] not in ("", "nan")]
    return [{"env_steps": int(float(r["env_steps"])), "wall_time": float(r["wall_time"]),
             "eval_metric": float(r["eval_metric"])} for r in rows]


# ----------------------------------------------------------------------------- summary
def solved(rows: list[dict], threshold: float) -> dict:
    """First evaluation below ``threshold`` and whether the last :data:`STAY` all are."""
    first = next((r for r in rows if r["eval_metric"] < threshold), None)
    return {"solved": first is not None, "env_steps": first and first["env_steps"],
            "wall_time": first and round(first["wall_time"], 2),
            "stays": len(rows) >= STAY and all(r["eval_metric"] < threshold for r in rows[-STAY:]),
            "best": min(r["eval_metric"] for r in rows), "final": rows[-1]["eval_metric"]}


def table(results: list[dict]) -> str:
    def spread(values, fmt):
        return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})" if values else "-"

    lines = ["| algorithm | seeds solved | stay solved (last 5 evaluations) | training s to solve, median (min-max)"
             " | env steps to solve, median (min-max) | final error per seed (m) |", "|---|---|---|---|---|---|"]
    medians = {}
    for algo in dict.fromkeys(r["algo"] for r in results):
        rows = [r for r in results if r["algo"] == algo]
        ok = [r for r in rows if r["solved"]]
        medians[algo] = statistics.median([r["wall_time"] for r in ok]) if ok else None
        lines.append(f"| {algo} | {len(ok)} / {len(rows)} | {sum(r['stays'] for r in rows)} / {len(rows)} | "
                     f"{spread([r['wall_time'] for r in ok], lambda x: f'{x:.1f}')} | "
                     f"{spread([r['env_steps'] for r in ok], lambda x: f'{x:,.0f}')} | "
                     f"{' / '.join(format(r['final'], '.3f') for r in rows)} |")
    if len(medians) == 2 and all(medians.values()):
        ours, theirs = medians.values()
        lines += ["", f"median training time to solve, ours / theirs: {ours / theirs:.2f}"]
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--abpt-steps", type=int, default=1_000_000)
    parser.add_argument("--eval-every", type=int, default=50_000, help="diffenvs evaluation interval, env steps")
    parser.add_argument("--td3-steps", type=int, default=300_000)
    parser.add_argument("--td3-eval-every", type=int, default=10_000)
    parser.add_argument("--threshold", type=float, default=0.1, help="position error that counts as solved, m")
    parser.add_argument("--out", default="benchmarks/results/hover_vs_rltools")
    parser.add_argument("--skip", nargs="*", default=[], choices=["abpt", "td3"], help="leave an algorithm out")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    module = None if "td3" in args.skip else build_td3(args.td3_steps)
    results = []
    for seed in args.seeds:  # interleaved: both algorithms for a seed, then the next seed
        for algo in ("abpt", "td3"):
            if algo in args.skip:
                continue
            rows = run_abpt(seed, args.abpt_steps, args.eval_every, args.out) if algo == "abpt" else \
                run_td3(module, seed, args.td3_steps, args.td3_eval_every)
            result = {"algo": "diffenvs ABPT" if algo == "abpt" else "rltools TD3", "seed": seed,
                      **solved(rows, args.threshold), "evaluations": rows}
            results.append(result)
            print(json.dumps({k: v for k, v in result.items() if k != "evaluations"}), flush=True)
            with open(os.path.join(args.out, "summary.json"), "w") as fh:  # incremental
                json.dump(results, fh, indent=2)
    text = table(results)
    print(text)
    with open(os.path.join(args.out, "summary.md"), "w") as fh:
        fh.write(text + "\n")
    return results


if __name__ == "__main__":
    main()
