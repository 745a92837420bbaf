"""Every example (examples/ and docs/examples/) runs, in its tiny mode where it has one."""

import importlib.util
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


def test_fused_benchmark_quick(monkeypatch, tmp_path):
    """The native-vs-PyTorch benchmark runs and writes its table (skipped without a C compiler)."""
    from diffenvs.robots.quadrotor import fused

    if not fused.available():
        pytest.skip("no fused kernel")
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    module = load(ROOT / "benchmarks" / "bench_fused.py")
    result = module.main(["--quick", "--json", str(tmp_path / "fused.json")])
    row = result["rows"][0]
    assert row["N"] == 4 and row["fwd"]["native"] > 0 and row["fwd+bwd"]["ratio"] > 0
    assert row["backward cost"]["native"] > 0
    assert "| 4 |" in (tmp_path / "fused.md").read_text()


def test_peer_benchmark_quick(monkeypatch, tmp_path):
    """The side-by-side benchmark runs; peers that are not installed are skipped with a note."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    module = load(ROOT / "benchmarks" / "bench_peers.py")
    result = module.main(["--quick", "--json", str(tmp_path / "peers.json")])
    row = result["rows"][0]
    assert row["N"] == 4 and row["diffenvs step()"] > 0 and row["diffenvs fwd+bwd"] > 0
    for name in ("l2f", "crazyflow"):
        assert name in row or any(note.startswith(f"{name} skipped") for note in result["notes"])
    assert "| 4 |" in (tmp_path / "peers.md").read_text()


def test_step_call_benchmark_quick(monkeypatch, tmp_path):
    """The per-call step() benchmark runs and times the kept-buffer step against the generic one."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    module = load(ROOT / "benchmarks" / "bench_step_call.py")
    result = module.main(["--quick", "--json", str(tmp_path / "calls.json")])
    row = result["rows"][0]
    assert row["N"] == 4 and row["step_us"] > 0 and row["generic_us"] > 0
    assert "| 4 |" in (tmp_path / "calls.md").read_text()


def test_quadruped_peer_benchmark_quick(monkeypatch, tmp_path):
    """The quadruped side by side with MuJoCo runs (MuJoCo is in the test extra) and MuJoCo's
    robots keep standing, as the benchmark's set-up intends."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when the script runs from its folder
    module = load(ROOT / "benchmarks" / "bench_mujoco_peers.py")
    result = module.main(["--quick", "--json", str(tmp_path / "quad.json")])
    for row in result["rows"]:
        assert row["diffenvs fwd"] > 0 and row["diffenvs fwd+bwd"] > 0 and row["mujoco rollout"] > 0
    assert all(h > 0.4 for h in result["mujoco_height"].values())
    assert "| 4 |" in (tmp_path / "quad.md").read_text()


def test_pointmass_peer_benchmark_quick(monkeypatch, tmp_path):
    """The point mass side by side with MuJoCo runs (the same script, ``--robot pointmass``)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    module = load(ROOT / "benchmarks" / "bench_mujoco_peers.py")
    result = module.main(["--robot", "pointmass", "--quick", "--json", str(tmp_path / "pm.json")])
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
