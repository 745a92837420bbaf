"""Autograd through whole rollouts equals finite differences (float64), for every task."""

import pytest
import torch
from helpers import quad_env

import diffenvs
from diffenvs.contract import reward_terms, state_clone

QUAD_IDS = [i for i, spec in diffenvs.ENV_IDS.items() if spec.robot == "quadrotor"]

HORIZON = 12


def rollout_return(env, start, actions, differentiable_only=True):
    """Sum over a rollout of the (differentiable) reward terms, from a fixed start state."""
    env.set_state(start)
    names = [t.name for t in env.reward_terms if t.differentiable or not differentiable_only]
    total = 0.0
    for a in actions.unbind(0):
        _, _, term, trunc, info = env.step_differentiable(a)
        assert not (term | trunc).any(), "keep the check window free of episode ends"
        total = total + sum(reward_terms(info)[n] for n in names).sum()
    return total


@pytest.mark.parametrize("env_id", QUAD_IDS)
@pytest.mark.parametrize("integrator", ["euler", "rk4"])
def test_rollout_gradient_matches_finite_differences(env_id, integrator):
    spec = diffenvs.ENV_IDS[env_id]
    env = quad_env(3, spec.task, spec.task_options, dtype=torch.float64, integrator=integrator, motor_lag=True)
    env.reset(seed=11)
    start = state_clone(env.get_state())
    gen = torch.Generator().manual_seed(0)
    base = env.robot.vehicle.hover_action + 0.2 * torch.randn(HORIZON, 3, 4, generator=gen, dtype=torch.float64)
    actions = base.clamp(-0.95, 0.95).requires_grad_()
    grad = torch.autograd.grad(rollout_return(env, start, actions), actions)[0]
    assert grad.abs().sum() > 0
    with torch.no_grad():
        for k in range(3):
            d = torch.randn(actions.shape, generator=gen, dtype=torch.float64)
            eps = 1e-6
            fd = (rollout_return(env, start, actions + eps * d) - rollout_return(env, start, actions - eps * d)) / (
                2 * eps)
            ad = (grad * d).sum()
            assert abs(fd - ad) <= 1e-6 * max(1.0, abs(ad)), (k, float(fd), float(ad))


@pytest.mark.parametrize("task", ["hover", "landing"])
def test_gradient_with_respect_to_initial_state(task):
    env = quad_env(2, task, dtype=torch.float64)
    env.reset(seed=2)
    start = state_clone(env.get_state())
    start["vel"][:] = 0.3  # moving and rotating
    start["omega"][:] = 0.3
    start["quat"] = torch.nn.functional.normalize(start["quat"] + 0.1, dim=-1)
    actions = torch.full((HORIZON, 2, 4), env.robot.vehicle.hover_action, dtype=torch.float64)

    def ret(x0):
        pos, vel, omega = x0.split(3, dim=-1)
        return rollout_return(env, {**start, "pos": pos, "vel": vel, "omega": omega}, actions)

    x0 = torch.cat([start["pos"], start["vel"], start["omega"]], -1).requires_grad_()
    grad = torch.autograd.grad(ret(x0), x0)[0]
    d = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        fd = (ret(x0 + 1e-6 * d) - ret(x0 - 1e-6 * d)) / 2e-6
    assert abs(fd - (grad * d).sum()) <= 1e-6 * max(1.0, abs(float(fd)))


def test_full_env_step_gradcheck():
    """gradcheck of one whole env step (dynamics, reward, observation) in state and action."""
    env = quad_env(2, "tracking", dtype=torch.float64, integrator="rk4")
    env.reset(seed=0)
    start = state_clone(env.get_state())
    start["vel"][:] = 0.2
    start["omega"][:] = 0.2

    def step(pos, vel_rates, a):
        # The quaternion is left out: set_state requires unit quaternions.
        vel, omega = vel_rates.split(3, dim=-1)
        env.set_state({**start, "pos": pos, "vel": vel, "omega": omega})
        obs, rew, _, _, info = env.step_differentiable(a)
        return obs, rew, info["final_obs"]

    pos = start["pos"].clone().requires_grad_()
    vel_rates = torch.cat([start["vel"], start["omega"]], -1).requires_grad_()
    a = torch.full((2, 4), 0.1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(step, (pos, vel_rates, a), eps=1e-6, atol=1e-6)
