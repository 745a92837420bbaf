"""The classical controller flies every task to its success metric (proves physics and tasks)."""

import gymnasium as gym
import pytest
import torch
from helpers import quad_env

from diffenvs.robots.quadrotor import CascadedController


def fly_one_episode(env_id, n=32, seed=0):
    venv = gym.make_vec(env_id, num_envs=n)
    venv.reset(seed=seed)
    ctrl = CascadedController(venv)
    finals, done = {}, torch.zeros(n, dtype=torch.bool)
    with torch.no_grad():
        for _ in range(venv.max_episode_steps):
            _, _, term, trunc, info = venv.step_differentiable(ctrl(venv.obs))
            new = (term | trunc) & ~done
            for k, v in info["final_info"].items():
                finals.setdefault(k, torch.zeros(n, dtype=v.dtype))
                finals[k] = torch.where(new, v, finals[k])
            done |= new
    assert done.all()
    assert int(venv.num_diverged) == 0 and int(venv.num_out_of_bounds) == 0
    return finals


def test_hover():
    f = fly_one_episode("DiffQuad-Hover-v0")
    assert f["pos_error"].max() < 0.05 and f["success"].all()


def test_tracking():
    f = fly_one_episode("DiffQuad-Tracking-v0")
    assert f["pos_error"].max() < 0.3 and f["success"].all()


def test_landing():
    f = fly_one_episode("DiffQuad-Landing-v0")
    assert f["success"].float().mean() >= 0.95
    assert (f["episode_length"] < 256).all()  # landed before the time limit


@pytest.mark.parametrize("env_id", ["DiffQuad-Racing-v0", "DiffQuad-RacingVelocity-v0"])
def test_racing(env_id):
    f = fly_one_episode(env_id)
    assert f["gates_passed"].min() >= 5
    assert (f["lap_time"] > 0).all() and (f["lap_time"] < 8.0).all()


def test_controller_is_differentiable():
    venv = quad_env(4, "tracking", dtype=torch.float64)
    venv.reset(seed=0)
    obs = venv.obs.clone().requires_grad_()
    a = CascadedController(venv)(obs)
    assert a.shape == (4, 4) and torch.isfinite(a).all()
    assert torch.autograd.gradcheck(CascadedController(venv), (obs,))


def test_classical_reference_script_runs(tmp_path, monkeypatch):
    """benchmarks/classical_reference.py (the controller rows of the results tables) in a tiny mode."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "classical_reference.py"
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parents[1] / "benchmarks"))  # as when run from there
    spec = importlib.util.spec_from_file_location("classical_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--envs", "DiffQuad-Hover-v0", "DiffNav-PointMass-v0", "--seeds", "0", "1", "--episodes",
                          "2", "--max-episode-steps", "5", "--preset-options", "--out", str(tmp_path / "ref")])
    assert set(result["eval"]) == {"DiffQuad-Hover-v0", "DiffNav-PointMass-v0"}
    assert all(e["eval_length"] == 5 for evals in result["eval"].values() for e in evals)
    assert (tmp_path / "ref.md").read_text().count("\n| Diff") == 2
