"""Sweeps: algorithms × envs × seeds × variants from a declarative spec, resumable.

A spec is a TOML or JSON file (or a dict)::

    name = "figure4"
    algos = ["ppo", "bptt", "shac", "abpt"]
    envs = ["DiffQuad-Hover-v0", "DiffQuad-Landing-v0"]
    seeds = [0, 1, 2]
    preset = "paper"                 # default preset of every run

    [settings]                       # any config field, for every run
    eval_every = 50000

    [total_steps]                    # budget per algorithm ("default" for the rest)
    default = 1000000
    ppo = 3000000

    [[variants]]                     # optional; one grid axis (default: one variant "base")
    name = "lr0.003"
    settings = { lr = 0.003 }        # merged over [settings]
    # preset = "no_zero_step"        # per-variant preset
    # algos = ["abpt"]               # restrict the variant to some algorithms
    # envs = [...]                   # ... or envs
    # seeds = [0, 1, 2, 3, 4]        # ... or other seeds

Every run is ``diffenvs-train ALGO --env ENV --seed S ...`` in its own process, logging
to ``OUT/runs/<variant>/<algo>/<env>/s<seed>/``. A run that finished has ``done.json``
there and is never redone; an interrupted run resumes from its last checkpoint
(``checkpoint_every``), keeping its log rows up to that checkpoint. After every finished
run, all logs are gathered into one tidy table, ``OUT/results.csv``: one row per logged
iteration, with the run's ``variant``, ``algo``, ``env``, ``seed`` and every log column
(env steps and wall-clock seconds included).

Backends: ``"local"`` runs ``workers`` processes on this machine (default: one per two
cores, each with ``cores // workers`` torch threads); ``"ray"`` submits the same runs as
Ray tasks (``pip install ray``; for a cluster, ``OUT`` must be on a shared filesystem).

    diffenvs-train sweep benchmarks/sweeps/figure4.toml --out benchmarks/results/figure4
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import itertools
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from diffenvs.fileio import atomic_path

from .core.logger import COLUMNS, write_csv

META = ("variant", "algo", "env", "seed")


@dataclass(frozen=True)
class Run:
    """One training run of a sweep."""

    variant: str
    algo: str
    env: str
    seed: int
    total_steps: int
    preset: str | None
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.variant}/{self.algo}/{self.env}/s{self.seed}"

    def log_dir(self, out: str) -> str:
        return os.path.join(out, "runs", self.variant, self.algo, self.env, f"s{self.seed}")

    def command(self, out: str, resume: bool) -> list[str]:
        cmd = [sys.executable, "-m", "trainers", self.algo, "--env", self.env, "--seed", str(self.seed),
               "--steps", str(self.total_steps), "--log-dir", self.log_dir(out), "--preset", self.preset or "none",
               "--no-progress", "--no-tensorboard"]
        for key, value in self.settings.items():
            cmd += ["--set", f"{key}={value!r}"]
        if resume:
            cmd.append("--resume")
        return cmd


def load_spec(spec: str | dict[str, Any]) -> dict[str, Any]:
    """A spec from a ``.toml``/``.json`` path or a dict."""
    if isinstance(spec, dict):
        return spec
    if spec.endswith(".json"):
        with open(spec) as fh:
            return json.load(fh)
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    with open(spec, "rb") as fh:
        return tomllib.load(fh)


def expand(spec: dict[str, Any]) -> list[Run]:
    """All runs of a spec, in a fixed order (variants, then seeds, envs, algos)."""
    known = {"name", "algos", "envs", "seeds", "preset", "settings", "total_steps", "variants"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"unknown spec key(s) {unknown}; valid: {sorted(known)}")
    variant_keys = {"name", "algos", "envs", "seeds", "preset", "settings", "total_steps"}
    for variant in spec.get("variants") or []:
        bad = sorted(set(variant) - variant_keys)
        if bad or "name" not in variant:
            raise ValueError(f"variant {variant.get('name', '(unnamed)')!r}: unknown key(s) {bad} or no name; "
                             f"valid keys: {sorted(variant_keys)}")
    budgets = spec.get("total_steps", {})
    if isinstance(budgets, int):
        budgets = {"default": budgets}
    runs = []
    for variant in spec.get("variants") or [{"name": "base"}]:
        algos = variant.get("algos", spec["algos"])
        envs = variant.get("envs", spec["envs"])
        # Seeds outermost: the first seed of every (env, algo) finishes first.
        for seed, env, algo in itertools.product(variant.get("seeds", spec.get("seeds", [0])), envs, algos):
            steps = variant.get("total_steps", budgets.get(algo, budgets.get("default", 1_000_000)))
            settings = {**spec.get("settings", {}), **variant.get("settings", {})}
            runs.append(Run(variant["name"], algo, env, int(seed), int(steps), variant.get("preset", spec.get(
                "preset", "paper")), settings))
    keys = [r.key for r in runs]
    if len(set(keys)) != len(keys):
        raise ValueError("the spec produces duplicate runs (give every variant its own name)")
    return runs


def run_one(run: Run, out: str, threads: int = 1, keep_checkpoint: bool = False) -> dict[str, Any]:
    """Execute (or resume, or skip) one run; returns its ``done.json`` content."""
    log_dir = run.log_dir(out)
    done_path = os.path.join(log_dir, "done.json")
    if os.path.exists(done_path):
        with open(done_path) as fh:
            return json.load(fh)
    os.makedirs(log_dir, exist_ok=True)
    resume = os.path.exists(os.path.join(log_dir, "checkpoint.pt"))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    with open(os.path.join(log_dir, "stdout.txt"), "a") as log:
        proc = subprocess.run(run.command(out, resume), stdout=log, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"run {run.key} failed (exit {proc.returncode}); see {log_dir}/stdout.txt")
    summary = {"run": run.key, **asdict(run), "process_seconds": round(time.perf_counter() - t0, 1)}
    with atomic_path(done_path) as tmp, open(tmp, "w") as fh:
        json.dump(summary, fh, indent=2)
    if not keep_checkpoint:
        ckpt = os.path.join(log_dir, "checkpoint.pt")
        if os.path.exists(ckpt):
            os.remove(ckpt)
    return summary


def collect(out: str, runs: list[Run] | None = None) -> str:
    """Gather every run's ``progress.csv`` under ``out`` into ``out/results.csv`` (atomically)."""
    rows = []
    root = os.path.join(out, "runs")
    for dirpath, _, files in sorted(os.walk(root)):
        if "progress.csv" not in files:
            continue
        rel = os.path.relpath(dirpath, root).split(os.sep)
        if len(rel) != 4:
            continue
        variant, algo, env, seed = rel[0], rel[1], rel[2], int(rel[3].lstrip("s"))
        with open(os.path.join(dirpath, "progress.csv"), newline="") as fh:
            for row in csv.DictReader(fh):
                rows.append({"variant": variant, "algo": algo, "env": env, "seed": seed, **row})
    return write_csv(os.path.join(out, "results.csv"), (*META, *COLUMNS), rows)


def run_sweep(spec: str | dict[str, Any], out: str, backend: str = "local", workers: int | None = None,
              keep_checkpoints: bool = False, ray_init: dict[str, Any] | None = None) -> str:
    """Run every unfinished run of ``spec``; returns the path of ``results.csv``."""
    spec = load_spec(spec)
    runs = expand(spec)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "spec.json"), "w") as fh:
        json.dump(spec, fh, indent=2)
    cores = os.cpu_count() or 1
    workers = workers or max(1, cores // 2)
    threads = max(1, cores // workers)
    todo = [r for r in runs if not os.path.exists(os.path.join(r.log_dir(out), "done.json"))]
    print(f"sweep {spec.get('name', '')}: {len(runs)} runs, {len(runs) - len(todo)} already done, "
          f"{len(todo)} to run with {backend} x{workers}", flush=True)
    if backend == "local":
        with cf.ThreadPoolExecutor(max_workers=workers) as pool:  # each run is its own process
            futures = {pool.submit(run_one, r, out, threads, keep_checkpoints): r for r in todo}
            for fut in cf.as_completed(futures):
                _report(fut.result, futures[fut], out)
    elif backend == "ray":
        import ray

        if not ray.is_initialized():
            ray.init(**(ray_init or {}))
        # Never ask for more CPUs per run than the cluster has (the task would never start).
        cpus = max(1, min(threads, int(ray.cluster_resources().get("CPU", 1))))
        remote = ray.remote(num_cpus=cpus)(run_one)
        pending = {remote.remote(r, os.path.abspath(out), cpus, keep_checkpoints): r for r in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            _report(lambda ref=ready[0]: ray.get(ref), pending.pop(ready[0]), out)
    else:
        raise ValueError(f"unknown backend {backend!r}; choose 'local' or 'ray'")
    return collect(out)


def _report(result, run: Run, out: str) -> None:
    """Print how a run ended (``result()`` returns its summary or raises) and re-gather the table."""
    try:
        summary = result()
        print(f"done {run.key} ({summary['process_seconds']} s)", flush=True)
    except Exception as exc:  # keep going; re-running the sweep retries it
        print(f"FAILED {run.key}: {exc}", flush=True)
    collect(out)


def main(argv: list[str] | None = None) -> str:
    """``diffenvs-train sweep SPEC --out DIR [--backend local|ray] [--workers N]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="diffenvs-train sweep", description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="a .toml or .json sweep spec")
    parser.add_argument("--out", required=True, help="results folder (resumable)")
    parser.add_argument("--backend", default="local", choices=["local", "ray"])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--keep-checkpoints", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and exit")
    args = parser.parse_args(argv)
    if args.dry_run:
        for run in expand(load_spec(args.spec)):
            print(run.key, run.total_steps, run.preset, run.settings)
        return ""
    path = run_sweep(args.spec, args.out, args.backend, args.workers, args.keep_checkpoints)
    print(f"results: {path}")
    return path
