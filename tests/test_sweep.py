"""The sweep runner (tiny budgets), its resumability, the Ray backend, and the figures."""

import csv
import json
import os

import pytest

from trainers.sweep import collect, expand, load_spec, run_sweep

TINY = {"num_envs": 4, "horizon": 8, "eval_envs": 2, "eval_every": 32, "env_kwargs": {"max_episode_steps": 12}}


def spec(**kw):
    base = {"name": "tiny", "algos": ["bptt", "abpt"], "envs": ["DiffQuad-Hover-v0"], "seeds": [0, 1],
            "preset": "paper", "settings": dict(TINY), "total_steps": {"default": 64},
            "variants": [{"name": "base"}, {"name": "no_zero_step", "algos": ["abpt"], "preset": "no_zero_step"}]}
    base.update(kw)
    return base


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_expand_and_spec_files():
    runs = expand(spec())
    assert [r.key for r in runs][:3] == ["base/bptt/DiffQuad-Hover-v0/s0", "base/abpt/DiffQuad-Hover-v0/s0",
                                         "base/bptt/DiffQuad-Hover-v0/s1"]
    assert len(runs) == 6 and runs[-1].preset == "no_zero_step"
    with pytest.raises(ValueError, match="unknown spec key"):
        expand({**spec(), "algo": ["x"]})
    more_seeds = expand(spec(variants=[{"name": "base"}, {"name": "x", "algos": ["abpt"], "seeds": [5, 6, 7]}]))
    assert [r.seed for r in more_seeds if r.variant == "x"] == [5, 6, 7]
    with pytest.raises(ValueError, match="unknown key"):
        expand(spec(variants=[{"name": "x", "seed": [1]}]))
    root = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "sweeps")
    counts = {name: len(expand(load_spec(os.path.join(root, name)))) for name in sorted(os.listdir(root))}
    assert counts == {"figure4.toml": 48, "figure7.toml": 36, "figure8.toml": 12, "figure9.toml": 60,
                      "racing_abpt.toml": 25, "tracking_long.toml": 2}


def test_tiny_sweep_is_resumable_and_gathers_one_table(tmp_path):
    out = str(tmp_path / "sweep")
    path = run_sweep(spec(), out, workers=2)
    rows = read(path)
    assert list(rows[0])[:4] == ["variant", "algo", "env", "seed"] and "wall_time" in rows[0]
    keys = {(r["variant"], r["algo"], r["seed"]) for r in rows}
    assert keys == {("base", "bptt", "0"), ("base", "bptt", "1"), ("base", "abpt", "0"), ("base", "abpt", "1"),
                    ("no_zero_step", "abpt", "0"), ("no_zero_step", "abpt", "1")}
    done = [os.path.join(r.log_dir(out), "done.json") for r in expand(spec())]
    stamps = [os.path.getmtime(p) for p in done]
    run_sweep(spec(), out)  # nothing to redo
    assert [os.path.getmtime(p) for p in done] == stamps
    assert json.load(open(done[0]))["run"] == "base/bptt/DiffQuad-Hover-v0/s0"


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    from trainers.cli import main

    out = str(tmp_path / "sweep")
    s = spec(algos=["shac"], seeds=[0], variants=None, total_steps={"default": 128},
             settings={**TINY, "checkpoint_every": 32, "critic_updates": 2})
    run = expand(s)[0]
    # A first attempt stopped after 64 of 128 steps (its checkpoint and log remain).
    main(["shac", "--env", run.env, "--seed", "0", "--steps", "64", "--log-dir", run.log_dir(out), "--no-progress",
          "--no-tensorboard", *sum((["--set", f"{k}={v!r}"] for k, v in run.settings.items()), [])])
    assert not os.path.exists(os.path.join(run.log_dir(out), "done.json"))
    run_sweep(s, out)
    steps = [int(float(r["env_steps"])) for r in read(os.path.join(run.log_dir(out), "progress.csv"))]
    assert steps == sorted(set(steps)) and steps[-1] == 128  # no duplicated rows, finished
    assert "resuming shac" in open(os.path.join(run.log_dir(out), "stdout.txt")).read()
    assert not os.path.exists(os.path.join(run.log_dir(out), "checkpoint.pt"))  # removed once done


def test_ray_backend_on_a_local_ray_instance(tmp_path):
    # Ray >= 2.50 removed `local_mode`; a single-node local instance is its replacement.
    ray = pytest.importorskip("ray")
    out = str(tmp_path / "sweep")
    try:
        path = run_sweep(spec(algos=["bptt"], seeds=[0], variants=None), out, backend="ray",
                         ray_init={"num_cpus": 1, "include_dashboard": False, "log_to_driver": False})
    finally:
        ray.shutdown()
    assert {r["algo"] for r in read(path)} == {"bptt"}


def test_figures_from_tiny_results(tmp_path, monkeypatch):
    from trainers.experiments import gradient_bias, parameter_difference
    from trainers.figures import main as figures

    out = str(tmp_path / "sweep")
    s = spec(total_steps={"default": 128},  # enough for episodes to end in several iterations
             variants=[{"name": "base"}, {"name": "no_zero_step", "algos": ["abpt"], "preset": "no_zero_step"},
                       {"name": "lr0.001", "settings": {"lr": 0.001}}])
    results = run_sweep(s, out, workers=2)
    fig5 = [str(tmp_path / f"figure5_s{seed}.csv") for seed in (0, 1)]  # one CSV per seed
    for seed, path in enumerate(fig5):
        parameter_difference(iterations=2, seed=seed, out=path, num_envs=4, horizon=8, critic_updates=2,
                             env_kwargs={"max_episode_steps": 12})
    fig5_gradient = str(tmp_path / "figure5_gradient.csv")
    rows = gradient_bias(iterations=2, probe_every=1, out=fig5_gradient, num_envs=4, horizon=8, critic_updates=2)
    assert [r["iteration"] for r in rows] == [1, 1, 1, 2, 2, 2]
    assert all(0 < r["relative_error"] and -1 <= r["cosine"] <= 1 for r in rows)
    # Nothing detached: both probe rollouts start from the same states with the same noise.
    same = gradient_bias(detach=(), iterations=1, probe_every=1, num_envs=4, horizon=8, critic_updates=2)
    assert [r["relative_error"] for r in same] == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="unknown reward term"):
        gradient_bias(detach=("gate",), iterations=1, num_envs=4, horizon=8)
    written = figures([results, "--out", str(tmp_path / "figs"), "--fig5", *fig5, "--fig5-gradient", fig5_gradient])
    names = sorted(os.path.basename(p) for p in written)
    assert names == ["figure4.png", "figure5.png", "figure7.png", "figure9.png", "summary.md", "summary_ablation.md",
                     "summary_fig5.md", "summary_lr.md"]
    fig5_table = open(tmp_path / "figs" / "summary_fig5.md").read()
    assert "| N-step + 0-step (ABPT) | 2 |" in fig5_table and "over 2 probes" in fig5_table
    lr_rows = open(tmp_path / "figs" / "summary_lr.md").read().splitlines()
    assert lr_rows[2].startswith("| BPTT | 0.001 | 2 |") and len(lr_rows) == 2 + 2  # BPTT and ABPT at lr 0.001
    table = open(tmp_path / "figs" / "summary.md").read()
    assert "| Hovering | BPTT | 2 |" in table and "| Hovering | ABPT | 2 |" in table
    assert os.path.getsize(tmp_path / "figs" / "figure4.png") > 10_000
    written = figures([results, "--out", str(tmp_path / "figs"), "--figs", "abpt-variants",
                       "--envs", "DiffQuad-Hover-v0"])
    assert sorted(os.path.basename(p) for p in written) == ["abpt_variants_hover.png", "summary_abpt_variants.md"]
    table = open(tmp_path / "figs" / "summary_abpt_variants.md").read()
    assert "| Hovering | ABPT | 2 |" in table and "| Hovering | ABPT no_zero_step | 2 |" in table
    # The console script exits 0 (it used to pass main()'s return value to sys.exit).
    from trainers.cli import console

    monkeypatch.setattr("sys.argv", ["diffenvs-train", "figures", "--out", str(tmp_path / "f5"), "--fig5", fig5[0]])
    assert console() == 0 and os.path.exists(tmp_path / "f5" / "figure5.png")
    collect(out)  # idempotent
