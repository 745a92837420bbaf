"""Every example (examples/ and docs/examples/) runs, in its tiny mode where it has one."""

import importlib.util
import json
import os
import pathlib
import runpy
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
DOC_EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))
#: Docs examples that register a robot or a task of their own (the "Adding a robot" and
#: "Adding a task" guides): they run in a fresh interpreter, so that their registrations do
#: not leak into the registry of the other tests in the session.
ISOLATED = {"adding_a_robot.py", "adding_a_task.py"}


def load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_tiny(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = load(path)
    argv = ["--tiny"]
    if path.name == "fly_controller.py":
        argv += ["--out", str(tmp_path)]
    module.main(argv)
    if path.name == "fly_controller.py":
        import diffenvs

        assert len(list(tmp_path.glob("*.gif"))) == len(diffenvs.ENV_IDS)  # one per registered id


@pytest.mark.parametrize("path", DOC_EXAMPLES, ids=[p.name for p in DOC_EXAMPLES])
def test_docs_example(path, tmp_path, monkeypatch):
    if path.name in ISOLATED:
        proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        return
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(path)])
    runpy.run_path(str(path), run_name="__main__")


def test_benchmark_quick(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when the script runs from its folder
    module = load(ROOT / "benchmarks" / "bench_env.py")
    result = module.main(["--quick"])
    assert result["rows"][0]["fwd"] > 0


def _bench_quick(monkeypatch, tmp_path, script: str, *args: str) -> tuple[dict, str]:
    """Run ``benchmarks/<script>``'s ``main`` in quick mode from its folder, writing its JSON into
    ``tmp_path``; returns its result and the Markdown table it wrote."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when the script runs from its folder
    module = load(ROOT / "benchmarks" / script)
    out = tmp_path / "bench.json"
    return module.main([*args, "--quick", "--json", str(out)]), out.with_suffix(".md").read_text()


def test_fused_benchmark_quick(monkeypatch, tmp_path):
    """The native-vs-PyTorch benchmark runs and writes its table (skipped without a C compiler)."""
    from diffenvs.robots.quadrotor import fused

    if not fused.available():
        pytest.skip("no fused kernel")
    result, table = _bench_quick(monkeypatch, tmp_path, "bench_fused.py")
    row = result["rows"][0]
    assert row["N"] == 4 and row["fwd"]["native"] > 0 and row["fwd+bwd"]["ratio"] > 0
    assert row["backward cost"]["native"] > 0
    assert "| 4 |" in table


def test_peer_benchmark_quick(monkeypatch, tmp_path):
    """The side-by-side benchmark runs; peers that are not installed are skipped with a note."""
    result, table = _bench_quick(monkeypatch, tmp_path, "bench_peers.py")
    row = result["rows"][0]
    assert row["N"] == 4 and row["diffenvs step()"] > 0 and row["diffenvs fwd+bwd"] > 0
    for name in ("l2f", "crazyflow"):
        assert name in row or any(note.startswith(f"{name} skipped") for note in result["notes"])
    assert "| 4 |" in table


def test_step_call_benchmark_quick(monkeypatch, tmp_path):
    """The per-call step() benchmark runs and times the kept-buffer step against the generic one."""
    result, table = _bench_quick(monkeypatch, tmp_path, "bench_step_call.py")
    row = result["rows"][0]
    assert row["N"] == 4 and row["step_us"] > 0 and row["generic_us"] > 0
    assert "| 4 |" in table


def test_quadruped_peer_benchmark_quick(monkeypatch, tmp_path):
    """The quadruped side by side with MuJoCo runs (MuJoCo is in the test extra) and MuJoCo's
    robots keep standing, as the benchmark's set-up intends."""
    result, table = _bench_quick(monkeypatch, tmp_path, "bench_mujoco_peers.py")
    for row in result["rows"]:
        assert row["diffenvs fwd"] > 0 and row["diffenvs fwd+bwd"] > 0 and row["mujoco rollout"] > 0
    assert all(h > 0.4 for h in result["mujoco_height"].values())
    assert "| 4 |" in table


def test_pointmass_peer_benchmark_quick(monkeypatch, tmp_path):
    """The point mass side by side with MuJoCo runs (the same script, ``--robot pointmass``)."""
    result, _ = _bench_quick(monkeypatch, tmp_path, "bench_mujoco_peers.py", "--robot", "pointmass")
    assert result["robot"] == "pointmass"
    for row in result["rows"]:
        assert row["diffenvs fwd"] > 0 and row["diffenvs fwd+bwd"] > 0 and row["mujoco rollout"] > 0


def test_registered_envs_meet_the_contract():
    import gymnasium as gym

    import diffenvs

    for env_id in diffenvs.ENV_IDS:
        diffenvs.check_vector_env(gym.make_vec(env_id, num_envs=2), need_autoreset=True)


def test_run_times_script_quick(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when the script runs from its folder
    module = load(ROOT / "benchmarks" / "run_times.py")
    rows = module.main(["--quick", "--out", str(tmp_path / "times")])
    assert len(rows) == 3 and all(r["seconds"] > 0 for r in rows)
    assert (tmp_path / "times.md").read_text().count("\n| ") == 4


def test_gpu_check_script_runs_every_step_on_the_cpu(tmp_path):
    """scripts/gpu_check.sh in its quick mode on the CPU: every step ends with exit 0 and writes
    what it promises (at most 8 files, as the GPU machine returns), the contract tests pass under
    DIFFENVS_TEST_DEVICE, the benchmark's JSON has its eager and compiled rows, the run its log."""
    env = {**os.environ, "DEVICE": "cpu", "QUICK": "1", "OUT": str(tmp_path), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for name in ("contract", "bench eager", "bench compiled", "abpt"):
        assert f"== {name}: exit 0 after" in proc.stdout, proc.stdout
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["abpt_hover.txt", "abpt_hover_progress.csv", "bench.txt", "bench_compiled.json",
                     "bench_eager.json", "contract.txt", "device.txt"]
    assert " passed" in (tmp_path / "contract.txt").read_text()
    eager, compiled = (json.loads((tmp_path / f"bench_{k}.json").read_text()) for k in ("eager", "compiled"))
    assert (eager["compile"], compiled["compile"]) == (False, "aot_eager")  # inductor's first compile takes minutes
    eager, compiled = eager["rows"][0], compiled["rows"][0]
    assert eager["fwd"] > 0 and "compiled fwd" not in eager
    assert compiled["compiled fwd"] > 0 and "fwd" not in compiled
    summary = [line for line in (tmp_path / "abpt_hover.txt").read_text().splitlines() if line.startswith("{")]
    assert json.loads(summary[-1])["env_steps"] > 0
