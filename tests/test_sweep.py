"""The sweep runner (tiny budgets), its resumability, spec checks, failures, run-folder locks,
stopping runs with their sweep, the Ray backend, and the figures."""

import csv
import fcntl
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

import diffenvs
from trainers import sweep
from trainers.sweep import SweepFailed, collect, expand, load_spec, run_sweep

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
    assert counts == {"abpt_confounds.toml": 20, "figure4.toml": 48, "figure4_paper_a.toml": 40,
                      "figure4_paper_b.toml": 20, "figure4_paper_c.toml": 20, "figure7.toml": 36,
                      "figure7_paper.toml": 60, "figure8.toml": 12, "figure8_paper.toml": 20, "figure9.toml": 60,
                      "nav.toml": 43, "nav_tune.toml": 16, "nav_tune_fast.toml": 12, "nav_tune_fast2.toml": 72,
                      "nav_tune_noise.toml": 52, "quadruped.toml": 12, "quadruped_anchor.toml": 3,
                      "quadruped_nav.toml": 9, "quadruped_nav_shac_rerun.toml": 3, "quadruped_shac_rerun.toml": 6,
                      "racing_abpt.toml": 25, "racing_confirm.toml": 40,
                      "racing_questions.toml": 48, "residual_quadrotor.toml": 48, "tracking_long.toml": 2}


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
    first = json.load(open(done[0]))
    assert first["run"] == "base/bptt/DiffQuad-Hover-v0/s0"
    assert first["code"]["diffenvs"] == diffenvs.__version__  # and the git commit in a checkout
    assert "commit" not in first["code"] or len(first["code"]["commit"]) == 40


@pytest.mark.parametrize("change, message", [
    ({"algos": ["bpt"]}, r"algos: unknown algorithm 'bpt' \(did you mean 'bptt'"),
    ({"algos": "bptt"}, r"algos = 'bptt': must be a non-empty list of strings"),
    ({"algos": []}, r"algos = \[\]: must be a non-empty list of strings"),
    ({"envs": ["DiffQuad-Hoover-v0"]}, r"envs: unknown env id 'DiffQuad-Hoover-v0' \(did you mean 'DiffQuad-Hover-v0'"),
    ({"seeds": "0"}, r"seeds = '0': must be a non-empty list of ints, e.g. seeds = \[0, 1, 2\]"),
    ({"seeds": [0, True]}, r"seeds = \[0, True\]: must be a non-empty list of ints"),
    ({"seeds": [-1]}, r"seeds = \[-1\]: seeds must be >= 0"),
    ({"seeds": [0, 0]}, r"runs \['base/abpt/DiffQuad-Hover-v0/s0', .*\] appear more than once"),
    ({"preset": "papr"}, r"preset = 'papr' \(for bptt on DiffQuad-Hover-v0, abpt on DiffQuad-Hover-v0\): "
                         r"unknown preset 'papr'"),
    ({"preset": 1}, r"preset = 1: must be a preset name"),
    ({"settings": {"lrr": 0.1}}, r"settings.lrr = 0.1 \(for bptt\): unknown setting\(s\) \['lrr'\] for BPTTConfig"),
    ({"settings": {"lr": "abc"}}, r"settings.lr = 'abc' \(for bptt, abpt\): setting 'lr' must be a number, got 'abc'"),
    ({"settings": {"horizon": 0}}, r"settings.horizon = 0 \(for bptt, abpt\): .*must be a positive int, got 0"),
    ({"settings": {"net.layer_norm": 1}}, r"settings.net.layer_norm = 1 .*must be a bool"),
    ({"settings": {"seed": 3}}, r"settings.seed: the sweep sets it for every run; use the spec's 'seeds'"),
    ({"settings": ["lr"]}, r"settings = \['lr'\]: must be a table of config fields"),
    ({"total_steps": {"default": 0}}, r"total_steps.default = 0: must be a positive int"),
    ({"total_steps": -64}, r"total_steps = -64: must be a positive int"),
    ({"total_steps": {"default": 64, "bppt": 64}}, r"total_steps.bppt: unknown algorithm 'bppt'"),
    ({"total_steps": {"default": 64.0}}, r"total_steps.default = 64.0: must be a positive int"),
    ({"seed": [0]}, r"unknown spec key 'seed' \(did you mean 'seeds'\?\)"),
    ({"variants": "base"}, r"variants = 'base': must be a list of tables"),
    ({"variants": [{"algos": ["bptt"]}]}, r"variants\[0\]: name: missing"),
    ({"variants": [{"name": "a/b"}]}, r"variants\[0\] \(name 'a/b'\): name = 'a/b': must be a folder name"),
    ({"variants": [{"name": "x", "seeds": "1"}]}, r"variants\[0\] \(name 'x'\): seeds = '1': must be a non-empty"),
    ({"variants": [{"name": "x", "total_steps": 0}]}, r"variants\[0\] \(name 'x'\): total_steps = 0: must be"),
    ({"variants": [{"name": "x", "algos": ["ppo"], "settings": {"lr": 0.1}}]},
     r"variants\[0\] \(name 'x'\): settings.lr = 0.1 \(for ppo\): unknown setting\(s\) \['lr'\] for PPOConfig"),
    ({"variants": [{"name": "x", "preset": "no_zero_step"}]},
     r"variants\[0\] \(name 'x'\): preset = 'no_zero_step' \(for bptt on DiffQuad-Hover-v0\): .*ABPT ablation"),
], ids=["unknown-algo", "algos-str", "algos-empty", "unknown-env", "seeds-str", "seeds-bool", "seeds-negative",
        "duplicate-runs", "unknown-preset", "preset-int", "unknown-setting", "setting-type", "setting-range",
        "nested-setting-type", "reserved-setting", "settings-list", "zero-budget", "negative-budget",
        "budget-unknown-algo", "budget-float", "unknown-key", "variants-str", "variant-no-name", "variant-name-path",
        "variant-seeds-str", "variant-zero-budget", "variant-setting-for-algo", "variant-ablation-preset"])
def test_invalid_specs_are_rejected_before_anything_starts(tmp_path, change, message):
    out = tmp_path / "sweep"
    with pytest.raises(ValueError, match=message):
        run_sweep(spec(**change), str(out))
    assert not out.exists()


def test_every_problem_of_a_spec_is_listed_and_dry_run_checks(tmp_path, capsys):
    from trainers.cli import main

    bad = spec(algos=["bpt", "abpt"], seeds="0", settings={"lr": "abc"}, total_steps={"default": 0},
               variants=[{"name": "x", "envs": ["DiffQuad-Hoover-v0"]}])
    with pytest.raises(ValueError) as err:
        expand(bad)
    lines = str(err.value).splitlines()
    assert lines[0] == "invalid sweep spec (5 problems):"
    starts = ("algos: unknown algorithm 'bpt'", "seeds = '0': ", "total_steps.default = 0: ",
              "variants[0] (name 'x'): envs: unknown env id 'DiffQuad-Hoover-v0'", "settings.lr = 'abc' (for abpt): ")
    assert [line[:len(start)] for line, start in zip(lines[1:], starts)] == list(starts) and len(lines) == 6
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    out = tmp_path / "sweep"
    for extra in (["--dry-run"], []):
        with pytest.raises(SystemExit) as exit_:
            main(["sweep", str(path), "--out", str(out), *extra])
        assert str(exit_.value.code).endswith(str(err.value))
        assert not out.exists()
    path.write_text(json.dumps(spec()))
    main(["sweep", str(path), "--out", str(out), "--dry-run"])
    assert capsys.readouterr().out.splitlines()[0].startswith("base/bptt/DiffQuad-Hover-v0/s0 64 paper ")
    assert not out.exists()


def fake_command(failing_seed=None):
    """A ``Run.command`` that only writes a one-row ``progress.csv`` (or fails for one seed)."""
    def command(run, out, resume):
        if run.seed == failing_seed:
            return [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
        code = "import sys; open(sys.argv[1], 'w').write('iteration,env_steps\\n1,64\\n')"
        return [sys.executable, "-c", code, os.path.join(run.log_dir(out), "progress.csv")]
    return command


def test_a_failed_run_fails_the_sweep_after_the_others(tmp_path, monkeypatch, capsys):
    from trainers.cli import main

    monkeypatch.setattr(sweep.Run, "command", fake_command(failing_seed=1))
    s = spec(algos=["bptt"], seeds=[0, 1, 2], variants=None)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(s))
    out = str(tmp_path / "sweep")
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", str(path), "--out", out, "--workers", "2"])
    assert exit_.value.code == 1
    failed = expand(s)[1]
    stdout = os.path.join(failed.log_dir(out), "stdout.txt")
    assert f"1 of 3 runs failed (re-run the sweep to retry them):\n  {failed.key}: exit status 3; see {stdout}" \
        in capsys.readouterr().err
    assert open(stdout).read() == "boom\n"
    assert [os.path.exists(os.path.join(r.log_dir(out), "done.json")) for r in expand(s)] == [True, False, True]
    assert sorted(r["seed"] for r in read(os.path.join(out, "results.csv"))) == ["0", "2"]  # gathered anyway
    with pytest.raises(SweepFailed) as err:  # from Python, and again: the failed run is retried
        run_sweep(s, out)
    assert [(f.key, f.error, f.stdout) for f in err.value.failed] == [(failed.key, "exit status 3", stdout)]
    assert open(stdout).read() == "boom\nboom\n"


def test_a_run_locked_by_another_sweep_is_skipped(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sweep.Run, "command", fake_command())
    s = spec(algos=["bptt"], variants=None)
    out = str(tmp_path / "sweep")
    locked, free = expand(s)
    os.makedirs(locked.log_dir(out))
    with open(os.path.join(locked.log_dir(out), ".lock"), "w") as lock:
        lock.write("4242\n")
        lock.flush()
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a sweep running that run would
        run_sweep(s, out)
        assert f"skipped {locked.key}: locked by another sweep (pid 4242)" in capsys.readouterr().out
        assert os.listdir(locked.log_dir(out)) == [".lock"]  # not started
        assert os.path.exists(os.path.join(free.log_dir(out), "done.json"))
    run_sweep(s, out)  # once the other sweep is gone, the run is done
    assert os.path.exists(os.path.join(locked.log_dir(out), "done.json"))
    assert open(os.path.join(locked.log_dir(out), ".lock")).read() == f"{os.getpid()}\n"


# A sweep (its own process) whose one run writes its pid and sleeps; on SIGTERM it notes it.
SWEEP_SCRIPT = """
import json, sys
from trainers import sweep

child, spec, out = sys.argv[1:]
sweep.Run.command = lambda run, out, resume: [sys.executable, "-c", child, out + "/child.pid"]
sweep.run_sweep(json.loads(spec), out, workers=1)
"""
CHILD = """
import os, signal, sys, time

def terminated(*_):
    open(sys.argv[1] + ".terminated", "w").close()
    sys.exit(1)

signal.signal(signal.SIGTERM, terminated)
with open(sys.argv[1] + ".tmp", "w") as fh:
    fh.write(str(os.getpid()))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(60)
"""


def alive(pid):
    """Whether process ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(condition, timeout):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal and /proc are Linux's")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["kill-9", "sigterm", "ctrl-c"])
def test_runs_end_with_their_sweep(tmp_path, sig):
    script = tmp_path / "sweep_script.py"
    script.write_text(SWEEP_SCRIPT)
    out = str(tmp_path / "sweep")
    s = spec(algos=["bptt"], seeds=[0], variants=None)
    # Default signal dispositions in the sweep process whatever the test runner inherited (an
    # ignored SIGINT would be inherited, and Python keeps it ignored: Ctrl-C would do nothing).
    proc = subprocess.Popen([sys.executable, str(script), CHILD, json.dumps(s), out],
                            cwd=os.path.dirname(os.path.dirname(__file__)), restore_signals=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        pid_file = os.path.join(out, "child.pid")
        assert wait_for(lambda: os.path.exists(pid_file), 30), "the run never started"
        child = int(open(pid_file).read())
        assert alive(child)
        os.kill(proc.pid, sig)  # the sweep alone (its run is in another process group)
        assert wait_for(lambda: not alive(child), 30), "the run outlived its sweep"
        # kill -9: the parent-death signal (SIGKILL); SIGTERM and Ctrl-C: the sweep stops it with SIGTERM.
        assert os.path.exists(pid_file + ".terminated") == (sig != signal.SIGKILL)
        assert proc.wait(10) == {signal.SIGKILL: -9, signal.SIGTERM: 128 + 15, signal.SIGINT: -2}[sig]
        assert not os.path.exists(os.path.join(expand(s)[0].log_dir(out), "done.json"))
    finally:
        proc.kill()
        proc.wait()


def _half_run(tmp_path):
    """A one-run sweep of 128 steps whose first attempt stopped after 64 (checkpoint and log
    left in its folder): ``(spec, run, out)``."""
    from trainers.cli import main

    out = str(tmp_path / "sweep")
    s = spec(algos=["shac"], seeds=[0], variants=None, total_steps={"default": 128},
             settings={**TINY, "checkpoint_every": 32, "critic_updates": 2})
    run = expand(s)[0]
    main(["shac", "--env", run.env, "--seed", "0", "--steps", "64", "--log-dir", run.log_dir(out), "--no-progress",
          "--no-tensorboard", *sum((["--set", f"{k}={v!r}"] for k, v in run.settings.items()), [])])
    return s, run, out


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    s, run, out = _half_run(tmp_path)
    assert not os.path.exists(os.path.join(run.log_dir(out), "done.json"))
    run_sweep(s, out)
    steps = [int(float(r["env_steps"])) for r in read(os.path.join(run.log_dir(out), "progress.csv"))]
    assert steps == sorted(set(steps)) and steps[-1] == 128  # no duplicated rows, finished
    assert "resuming shac" in open(os.path.join(run.log_dir(out), "stdout.txt")).read()
    assert not os.path.exists(os.path.join(run.log_dir(out), "checkpoint.pt"))  # removed once done


def test_a_checkpoint_without_its_log_starts_the_run_over(tmp_path):
    """A run whose progress.csv was cleaned away (its ignored checkpoint kept) is not resumed with a
    hole in its log: the sweep starts it over and says why."""
    s, run, out = _half_run(tmp_path)
    os.remove(os.path.join(run.log_dir(out), "progress.csv"))
    assert sweep.can_resume(run.log_dir(out))[0] is False
    run_sweep(s, out)
    steps = [int(float(r["env_steps"])) for r in read(os.path.join(run.log_dir(out), "progress.csv"))]
    assert steps[0] == 0 and steps[-1] == 128  # the whole log, from the first step
    text = open(os.path.join(run.log_dir(out), "stdout.txt")).read()
    assert "without its progress.csv" in text and "resuming shac" not in text


def test_raising_the_budget_extends_finished_runs_from_their_checkpoints(tmp_path):
    out = str(tmp_path / "sweep")
    s = spec(algos=["shac"], seeds=[0], variants=None, total_steps={"default": 64},
             settings={**TINY, "critic_updates": 2})
    run_sweep(s, out, keep_checkpoints=True)
    run = expand(s)[0]
    first = json.load(open(os.path.join(run.log_dir(out), "done.json")))
    s["total_steps"] = {"default": 128}
    run_sweep(s, out, keep_checkpoints=True)
    done = json.load(open(os.path.join(run.log_dir(out), "done.json")))
    assert done["total_steps"] == 128 and done["extended_from"] == [64]
    assert done["process_seconds"] > first["process_seconds"]
    steps = [int(float(r["env_steps"])) for r in read(os.path.join(run.log_dir(out), "progress.csv"))]
    assert steps == sorted(set(steps)) and steps[-1] == 128  # one log, continued
    assert "resuming shac" in open(os.path.join(run.log_dir(out), "stdout.txt")).read()
    # Without a kept checkpoint a finished run cannot be extended: the sweep fails naming it.
    os.remove(os.path.join(run.log_dir(out), "checkpoint.pt"))
    s["total_steps"] = {"default": 192}
    with pytest.raises(SweepFailed, match="s0: finished 128 steps without keeping its checkpoint"):
        run_sweep(s, out)


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


def test_runs_figure_and_thresholds_table(tmp_path):
    """Hand-made rows: the table's first-hit steps and finals are the mean curves' own."""
    from trainers.figures import figure_runs, thresholds_table

    env = "DiffNav-PointMass-v0"
    rows = []
    for algo, variant, speed in (("shac", "base", 1.0), ("bptt", "base", 0.5), ("shac", "no_nose", 0.25)):
        for seed in (0, 1):
            for k in range(5):
                steps = 10_000.0 * k
                success = min(1.0, speed * k / 4 + 0.05 * seed)
                rows.append({"variant": variant, "algo": algo, "env": env, "seed": float(seed), "env_steps": steps,
                             "wall_time": steps / 1000, "eval_metric": 1.0, "eval_success": success})
    table = thresholds_table(rows, env, metric_levels=(0.99,), success_levels=(0.9,)).splitlines()
    assert table[0].startswith("| run | seeds | final metric") and len(table) == 2 + 3
    shac = next(line for line in table if line.startswith("| SHAC | 2 |"))
    cells = [c.strip() for c in shac.strip("|").split("|")]
    assert cells[2].startswith("1 ± 0") and cells[3] == "1 ± 0 (1)"
    assert cells[4] == "0" and cells[5] == "40,000 (40.0 s)"  # the mean success: 0.775 at 30k, 1 at 40k
    slow = next(line for line in table if line.startswith("| SHAC no_nose | 2 |"))
    assert slow.rstrip(" |").endswith("not reached")
    path = figure_runs(rows, str(tmp_path / "runs.png"), env)
    assert os.path.getsize(path) > 10_000


def test_returns_table_and_figure_for_a_task_without_success(tmp_path):
    """Hand-made rows of a task with no success metric (walking): the runs figure plots returns,
    and the table's return levels and first hits are computed from the mean curves."""
    from trainers.figures import figure_runs, returns_table

    env = "DiffQuadruped-Walk-v0"
    rows = []
    # Mean returns: shac 0, 100, 200, 300, 400 (seeds +-10); ppo 0, 25, 50, 75, 100.
    for algo, slope in (("shac", 100.0), ("ppo", 25.0)):
        for seed in (0, 1):
            for k in range(5):
                steps = 10_000.0 * k
                ret = slope * k + (10.0 if seed else -10.0) * (k > 0)
                rows.append({"variant": "base", "algo": algo, "env": env, "seed": float(seed), "env_steps": steps,
                             "wall_time": steps / 1000, "eval_return": ret, "eval_metric": 1.0 / (1 + k),
                             "eval_success": math.nan})
    table = returns_table(rows, env, fractions=(0.5, 0.9)).splitlines()
    # levels: 0 + 0.5 * (400 - 0) = 200 and 360
    assert "return ≥ 200 (50% of the way)" in table[0] and "return ≥ 360 (90% of the way)" in table[0]
    cells = {c[0]: c for c in ([x.strip() for x in line.strip("|").split("|")] for line in table[2:])}
    assert cells["SHAC"][2] == "40,000" and cells["SHAC"][4] == "400 ± 10 (390)"
    assert cells["SHAC"][5] == "0.2 ± 0 (0.2)"
    assert cells["SHAC"][6] == "20,000 (20 s)" and cells["SHAC"][7] == "40,000 (40 s)"
    assert cells["PPO"][6] == "not reached" and cells["PPO"][7] == "not reached"
    path = figure_runs(rows, str(tmp_path / "runs.png"), env)
    assert os.path.getsize(path) > 10_000


def test_finals_figure_and_table_on_hand_made_rows(tmp_path):
    """Each seed's last evaluation counts (rows without one are skipped); the table gives the
    mean, the bootstrap interval of the verdict rule and every seed's value."""
    from trainers.figures import figure_finals, final_values, finals_table
    from trainers.stats import bootstrap_ci

    env, nan = "DiffQuad-Racing-v0", float("nan")
    rows = []
    for variant, finals in (("zs", (1.0, 2.0, 6.0)), ("nozs", (4.0, 4.0, 4.0))):
        for seed, final in enumerate(finals):
            for k, ret in enumerate((0.5, final, nan)):  # the last row is a training row, no evaluation
                rows.append({"variant": variant, "algo": "abpt", "env": env, "seed": float(seed),
                             "env_steps": 1000.0 * k, "eval_return": ret, "eval_metric": ret / 2,
                             "eval_success": 0.0})
    values, steps = final_values(rows, "eval_return", env=env, algo="abpt", variant="zs")
    assert values == {0: 1.0, 1: 2.0, 2: 6.0} and steps == 1000.0
    lo, hi = bootstrap_ci([1.0, 2.0, 6.0])
    table = finals_table(rows, env).splitlines()
    assert table[0].startswith("| run | seeds (final evaluation at env steps) | final return | final gates_passed |")
    assert table[2] == "| ABPT nozs | 3 (1,000) | 4 [4, 4] (4 / 4 / 4) | 2 [2, 2] (2 / 2 / 2) | 0 [0, 0] (0 / 0 / 0) |"
    assert table[3].startswith(f"| ABPT zs | 3 (1,000) | 3 [{lo:.3g}, {hi:.3g}] (1 / 2 / 6) |")
    assert os.path.getsize(figure_finals(rows, str(tmp_path / "finals.png"), env)) > 5_000


def test_anchor_figure_on_hand_made_rows(tmp_path, monkeypatch):
    """Each panel shows the plain runs only over the anchored runs' env steps, and the plain
    runs' final mean at their own budget as the dashed line; the CLI draws it only when both
    variants are present."""
    import trainers.figures as figures

    env, rows = "DiffQuad-Hover-v0", []
    for variant, budget, level in (("base", 4000.0, 10.0), ("rpl", 1000.0, 20.0)):
        for seed in (0, 1):
            for k in range(int(budget // 500) + 1):
                rows.append({"variant": variant, "algo": "abpt", "env": env, "seed": float(seed),
                             "env_steps": 500.0 * k, "eval_return": level + seed + k, "eval_metric": 1.0 / (1 + k)})
    drawn = {}
    monkeypatch.setattr(figures, "_save", lambda fig, out: drawn.setdefault("fig", fig) and out)
    figures.figure_anchor(rows, str(tmp_path / "anchor.png"))
    (ax,) = drawn["fig"].axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"without (2)", "without, end (0.004M)", "with anchor (2)"}
    assert lines["without (2)"].get_xdata().max() == 1000.0  # clipped to the anchored runs' steps
    assert list(lines["without, end (0.004M)"].get_ydata()) == [10.0 + 0.5 + 8] * 2  # plain finals 18 and 19
    assert lines["with anchor (2)"].get_ydata()[-1] == 20.0 + 0.5 + 2
    monkeypatch.undo()
    csv_path = tmp_path / "results.csv"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert [os.path.basename(p) for p in figures.main([str(csv_path), "--out", str(tmp_path), "--figs", "anchor"])] \
        == ["anchor.png", "summary_anchor.md"]
    table = open(tmp_path / "summary_anchor.md").read().splitlines()
    # Anchored: 20 / 21 at 0 steps, 22 / 23 at their end (1,000 steps, also their best), pos_error 1/3 there;
    # without: 18 / 19 at 4,000 steps, pos_error 1/9.
    assert table[2] == ("| Hovering | ABPT | 20.5 (20 / 21) | 22.5 (22 / 23) (1,000) | 22.5 (22 / 23) | "
                        "pos_error 0.333 (0.333 / 0.333) | 18.5 (18 / 19) (4,000) | pos_error 0.111 (0.111 / 0.111) |")
    assert figures.main([str(csv_path), "--out", str(tmp_path), "--figs", "anchor", "--envs", "none"]) == []
