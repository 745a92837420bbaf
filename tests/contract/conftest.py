"""Shared fixtures of the env contract suite.

Every test that takes ``env_id`` runs once per id in :func:`diffenvs.env_specs` (read at
collection time, so a new robot or task is covered without new test code), plus once for
a small test-only robot (:data:`TOY_ID`) whose observation is a ``Dict`` and whose step is
not differentiable: it keeps the ``Dict`` and non-differentiable code paths of the shells
and of these tests exercised even while no shipped robot uses them. The toy is
registered only for the duration of each test that uses it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import types
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest
import torch

import diffenvs
from diffenvs import registry
from diffenvs.contract import EnvSpec, RewardTerm, Robot, StateField, Task, TaskStep

#: Every registered diffenvs id, at collection time.
REGISTERED_IDS = list(diffenvs.env_specs())

TOY_ID = "ContractToy-DictReach-v0"

#: ``DIFFENVS_TEST_DEVICE=cuda`` runs the suite on that device: every diffenvs env the tests make
#: (``gym.make`` / ``gym.make_vec``) is built there unless a test names a device, and tensors the
#: tests make without a device are made there (``scripts/gpu_check.sh``).
TEST_DEVICE = os.environ.get("DIFFENVS_TEST_DEVICE") or None


# ---------------------------------------------------------------- the toy robot
@dataclass(frozen=True)
class ToyConfig:
    step_size: float = 0.1


class ToyGridRobot(Robot):
    """Moves ``step_size`` along each axis by the SIGN of the action: not differentiable."""

    name = "contract_toy"
    Config = ToyConfig
    state_fields = {"pos": StateField((2,), "float", "position, m")}
    action_dim = 2
    action_doc = "direction along x and y (only the sign counts)"
    differentiable = False
    default_dt = 0.1

    def step(self, state, action):
        return {"pos": (state["pos"] + self.cfg.step_size * torch.sign(action)).detach()}

    def validate_state(self, state):
        if bool((state["pos"].abs() > 10.0).any()):
            raise ValueError("state['pos'] must lie in [-10, 10]")


@dataclass(frozen=True)
class ToyTaskConfig:
    reach_radius: float = 0.15


class ToyDictReachTask(Task):
    """Reach a per-episode goal; ``Dict`` observation; one non-differentiable bonus that ends the episode."""

    name = "dict_reach"
    label = "Toy reach (Dict obs)"
    robot = "contract_toy"
    Config = ToyTaskConfig
    default_episode_steps = 20
    state_fields = {"goal": StateField((2,), "float", "goal position, m")}
    reward_terms = (
        RewardTerm("distance", True, "-|p - goal|"),
        RewardTerm("reached", False, "+1 when within reach_radius; ends the episode"),
    )
    metric_names = ("distance",)
    metric_units = {"distance": "m"}

    @property
    def observation_space(self):
        box = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        return gym.spaces.Dict({"pos": box, "goal": box})

    def sample_initial(self, n, gen):
        u = torch.rand(n, 4, generator=gen, dtype=self.dtype, device=self.device) * 2 - 1
        return {"pos": u[:, :2], "goal": 0.5 * u[:, 2:]}

    def observe(self, s):
        return {"pos": s["pos"], "goal": s["goal"] - s["pos"]}

    def evaluate(self, s, failed):
        d = torch.linalg.vector_norm(s["pos"] - s["goal"], dim=-1)
        reached = (d.detach() < self.cfg.reach_radius) & ~failed
        terms = {"distance": -d, "reached": reached.to(d.dtype)}
        return TaskStep(terms, {"goal": s["goal"]}, reached, {"distance": d.detach()})


TOY_MODULE = types.ModuleType("contract_toy_robot")
TOY_MODULE.ROBOT = ToyGridRobot
TOY_MODULE.TASKS = {"dict_reach": ToyDictReachTask}
TOY_MODULE.ENVS = (EnvSpec(TOY_ID, "contract_toy", "dict_reach", 20),)


@contextlib.contextmanager
def toy_registered():
    """Register the toy robot for the duration of the block (and leave no trace after it)."""
    registry.register_robot(TOY_MODULE)
    try:
        yield
    finally:
        getattr(registry, "_SPECS", {}).pop(TOY_ID, None)
        getattr(registry, "_ROBOTS", {}).pop(ToyGridRobot.name, None)
        gym.envs.registration.registry.pop(TOY_ID, None)


@pytest.fixture(params=[*REGISTERED_IDS, TOY_ID])
def env_id(request):
    """Each registered id, then the test-only toy (Dict observation, non-differentiable step)."""
    if request.param == TOY_ID:
        with toy_registered():
            yield request.param
    else:
        yield request.param


def _on_test_device(make):
    @functools.wraps(make)
    def made(env_id, *args, **kwargs):
        name = env_id.removeprefix("diffenvs:") if isinstance(env_id, str) else None
        if name in REGISTERED_IDS or name == TOY_ID:
            kwargs.setdefault("device", TEST_DEVICE)
        return make(env_id, *args, **kwargs)
    return made


@pytest.fixture(autouse=True)
def _test_device(monkeypatch):
    """With ``DIFFENVS_TEST_DEVICE`` set: the test's envs and new tensors on that device."""
    if TEST_DEVICE is None:
        yield
        return
    monkeypatch.setattr(gym, "make", _on_test_device(gym.make))
    monkeypatch.setattr(gym, "make_vec", _on_test_device(gym.make_vec))
    with torch.device(TEST_DEVICE):
        yield


# --------------------------------------------------------------------- helpers
def make_vec(env_id, num_envs=3, **kwargs):
    return gym.make_vec(env_id, num_envs=num_envs, **kwargs)


def obs_items(obs):
    """``[(key, array_or_tensor)]`` of a Box (key ``None``) or Dict observation."""
    return sorted(obs.items()) if isinstance(obs, dict) else [(None, obs)]


def obs_rows(obs, rows):
    return {k: v[rows] for k, v in obs.items()} if isinstance(obs, dict) else obs[rows]


def obs_sum(obs):
    return sum(v.sum() for _, v in obs_items(obs))


def _array(x):
    """A numpy array of ``x`` (a tensor on any device, or array-like)."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def assert_obs_close(a, b, err_msg="", **kwargs):
    ia, ib = obs_items(a), obs_items(b)
    assert [k for k, _ in ia] == [k for k, _ in ib]
    for (k, x), (_, y) in zip(ia, ib):
        np.testing.assert_allclose(_array(x), _array(y), err_msg=f"{err_msg} observation entry {k}",
                                   **kwargs)


def clone_state(state):
    return {k: v.detach().clone() for k, v in state.items()}


def states_equal(a, b) -> bool:
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def generator(seed: int) -> torch.Generator:
    """A seeded generator on the device new tensors go to (the CPU, or ``DIFFENVS_TEST_DEVICE``)."""
    return torch.Generator(device=torch.get_default_device()).manual_seed(seed)


def random_actions(env, seed, scale=1.0, steps=None):
    """Seeded actions in ``[-scale, scale]`` of the env's dtype: ``(N, A)`` or ``(steps, N, A)``."""
    gen = torch.Generator().manual_seed(seed)
    shape = (env.num_envs, env.action_dim) if steps is None else (steps, env.num_envs, env.action_dim)
    return ((torch.rand(shape, generator=gen, dtype=env.dtype, device="cpu") * 2 - 1) * scale).to(env.device)


def grad_or_zero(output, inputs):
    """``d output / d inputs`` with ``None`` (no path in the graph) read as zero."""
    if not output.requires_grad:
        return [torch.zeros_like(x) for x in inputs]
    grads = torch.autograd.grad(output, inputs, allow_unused=True, retain_graph=True)
    return [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]
