"""Autograd through short rollouts equals central finite differences (float64)."""

from __future__ import annotations

import pytest
import torch

from diffenvs.contract import reward_terms

from .conftest import clone_state, generator, make_vec, random_actions

HORIZON = 5
EPS = 1e-6
REL_TOL = 1e-6


def _fd_env(env_id):
    env = make_vec(env_id, 2, dtype=torch.float64)
    if not env.differentiable:
        pytest.skip(f"{env_id}: robot {env.robot.name!r} declares differentiable=False, no gradients to check")
    env.reset(seed=3)
    # Two warm-up steps leave the rest state (kinks of norms at zero velocity).
    with torch.no_grad():
        for t in range(2):
            env.step_differentiable(random_actions(env, 70 + t, 0.5))
    return env, clone_state(env.get_state())


def _rollout_return(env, start, actions):
    """Sum over the rollout of the differentiable reward terms, from ``start``."""
    env.set_state(start)
    names = [t.name for t in env.reward_terms if t.differentiable]
    total = 0.0
    for a in actions.unbind(0):
        _, _, terminated, truncated, info = env.step_differentiable(a)
        assert not (terminated | truncated).any(), "keep the check window free of episode ends"
        total = total + sum(reward_terms(info)[n] for n in names).sum()
    return total


def _rel_error(fd, ad):
    return float((fd - ad).norm() / max(float(ad.norm()), float(fd.norm()), 1e-12))


def test_action_gradient_matches_finite_differences(env_id):
    env, start = _fd_env(env_id)
    # Actions stay inside (-1, 1): the straight-through clip is not differentiable at its edges.
    actions = random_actions(env, 0, 0.8, steps=HORIZON).requires_grad_()
    (grad,) = torch.autograd.grad(_rollout_return(env, start, actions), actions)
    assert grad.abs().sum() > 0
    fd = torch.zeros_like(actions)
    with torch.no_grad():
        flat = fd.view(-1)
        for j in range(flat.numel()):
            d = torch.zeros_like(actions).view(-1)
            d[j] = EPS
            d = d.view_as(actions)
            flat[j] = (_rollout_return(env, start, actions + d) - _rollout_return(env, start, actions - d)) / (2 * EPS)
    assert _rel_error(fd, grad) < REL_TOL, (fd, grad)
    torch.testing.assert_close(fd, grad, rtol=1e-5, atol=1e-8 * float(grad.abs().max()))
    # Rows are independent: an action of row 0 moves only row 0's return (checked via autograd
    # per row, as the summed return cannot tell).
    (g0,) = torch.autograd.grad(_row_return(env, start, actions, 0), actions)
    assert g0[:, 1:].abs().sum() == 0


def _row_return(env, start, actions, row):
    env.set_state(start)
    names = [t.name for t in env.reward_terms if t.differentiable]
    total = 0.0
    for a in actions.unbind(0):
        info = env.step_differentiable(a)[4]
        total = total + sum(reward_terms(info)[n][row] for n in names)
    return total


def _perturbable_float_fields(env, start):
    """Float state fields that can be moved freely (the robot's validate_state accepts a
    clearly perturbed value; fields with constraints, e.g. unit quaternions, fail it)."""
    fields = []
    gen = generator(5)
    for name, field in env.state_spec.items():
        if field.dtype != "float":
            continue
        moved = dict(start)
        moved[name] = start[name] + 0.1 * torch.randn(start[name].shape, generator=gen, dtype=env.dtype)
        try:
            env.robot.validate_state(moved)
        except ValueError:
            continue
        fields.append(name)
    return fields


def test_start_state_gradient_matches_finite_differences(env_id):
    env, start = _fd_env(env_id)
    fields = _perturbable_float_fields(env, start)
    if env.robot.name == "quadrotor":
        assert "quat" not in fields and "pos" in fields  # the detection works
    assert fields, "no float state field to check"
    actions = random_actions(env, 1, 0.8, steps=HORIZON)
    leaves = {k: start[k].clone().requires_grad_() for k in fields}
    grads = torch.autograd.grad(_rollout_return(env, {**start, **leaves}, actions), list(leaves.values()),
                                allow_unused=True)
    grads = {k: torch.zeros_like(leaves[k]) if g is None else g for k, g in zip(fields, grads)}
    assert any(g.abs().sum() > 0 for g in grads.values())
    gen = generator(6)
    with torch.no_grad():
        for name in fields:  # one random direction per field, so a failure names the field
            d = torch.randn(start[name].shape, generator=gen, dtype=env.dtype)
            plus = _rollout_return(env, {**start, name: start[name] + EPS * d}, actions)
            minus = _rollout_return(env, {**start, name: start[name] - EPS * d}, actions)
            fd = (plus - minus) / (2 * EPS)
            ad = (grads[name] * d).sum()
            fd, ad = float(fd), float(ad)
            assert abs(fd - ad) <= REL_TOL * max(abs(ad), abs(fd)) + 1e-10, (name, fd, ad)
