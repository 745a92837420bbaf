"""The point mass against MuJoCo stepping the same body (``benchmarks/bench_mujoco_peers.py``'s
model: slide joints, motors whose velocity bias is the damping, MuJoCo's semi-implicit Euler)."""

import pathlib

import numpy as np
import pytest
import torch

from diffenvs.robots.pointmass import PointMass

mujoco = pytest.importorskip("mujoco")
ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("options", [{}, {"max_accel": 2.5, "damping": 1.5}], ids=["default", "custom"])
def test_pointmass_steps_equal_mujoco(monkeypatch, options):
    """60 steps of random commands in [-1, 1] from a moving start: positions and velocities equal
    MuJoCo's to 1e-12 in float64."""
    from test_examples import load

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when the script runs from its folder
    peers = load(ROOT / "benchmarks" / "bench_mujoco_peers.py")
    robot = PointMass(options, dt=0.05, dtype=torch.float64, device=torch.device("cpu"))
    model = mujoco.MjModel.from_xml_string(peers.pointmass_xml(robot.cfg, robot.dt))
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    state = {"pos": torch.tensor([[0.3, -1.2]], dtype=torch.float64), "vel": torch.tensor([[1.0, 0.5]],
                                                                                         dtype=torch.float64)}
    data.qpos[:], data.qvel[:] = state["pos"][0].numpy(), state["vel"][0].numpy()
    for _ in range(60):
        u = rng.uniform(-1, 1, 2)
        state = robot.step(state, torch.as_tensor(u).unsqueeze(0))
        data.ctrl[:] = u
        mujoco.mj_step(model, data)
        np.testing.assert_allclose(state["pos"][0].numpy(), data.qpos, rtol=0, atol=1e-12)
        np.testing.assert_allclose(state["vel"][0].numpy(), data.qvel, rtol=0, atol=1e-12)
