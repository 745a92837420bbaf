"""Contract: absurd states and robots that blow up never produce a non-finite reward,
return or gradient, and never touch the other rows.

* A given state (``set_state`` / ``reset(options={"state": ...})``) that already fails
  the task's limits is rejected with an error naming them; one the task accepts steps to
  a finite reward and return.
* A row whose step blows up (here: its state is multiplied by inf inside the robot
  step) is diverged: reward 0, terminated, counted, and a zero gradient to its action
  and its earlier steps; every other row's values and gradients are unchanged.
"""

from __future__ import annotations

import pytest
import torch

from .conftest import clone_state, grad_or_zero, make_vec, random_actions


def _env(env_id, n=3, **kwargs):
    env = make_vec(env_id, n, dtype=torch.float64, **kwargs).unwrapped
    env.reset(seed=0)
    return env


def _float_robot_fields(env):
    return [k for k, f in env.robot.state_fields.items() if f.dtype == "float"]


@pytest.mark.parametrize("value", [1e20, -1e20, 1e300])
def test_absurd_states_are_rejected_or_step_to_finite_rewards(env_id, value):
    for name in _float_robot_fields(_env(env_id)):
        env = _env(env_id)
        state = clone_state(env.get_state())
        state[name][0] = value
        try:
            env.set_state(state)
        except ValueError as exc:  # rejected: the message says why
            assert "limits" in str(exc) or "must" in str(exc), str(exc)
            continue
        _, reward, terminated, truncated, info = env.step_differentiable(random_actions(env, 0))
        assert torch.isfinite(reward).all(), (name, reward)
        assert torch.isfinite(info["final_info"]["episode_return"]).all()
        for key, term in info.items():
            if key.startswith("reward/"):
                assert torch.isfinite(term).all(), key
        if info["diverged"][0]:
            assert reward[0] == 0 and terminated[0]


def test_rejected_absurd_state_names_the_limit_and_changes_nothing(env_id):
    env = _env(env_id)
    before = clone_state(env.get_state())
    state = clone_state(before)
    state[_float_robot_fields(env)[0]][1] = 1e30
    with pytest.raises(ValueError) as info:
        env.set_state(state)
    assert "row(s) [1]" in str(info.value) or "must" in str(info.value)
    assert all(torch.equal(before[k], env.get_state()[k]) for k in before)
    env.set_state(state, mask=torch.tensor([True, False, True]))  # the absurd row is not used


def _blow_up_row0(env):
    """Make the robot step of row 0 return inf (with a gradient path: 0 * inf is NaN).

    The patch reaches the robot's step only through the generic transition, so envs that take
    it are built with ``native=False``; a native transition's own non-finite rows are compared
    with the generic ones in ``test_contract_native``."""
    step = env.robot.step
    field = _float_robot_fields(env)[0]

    def patched(state, actions):
        out = dict(step(state, actions))
        factor = torch.ones_like(out[field])
        factor[0] = torch.inf
        out[field] = out[field] * factor
        return out

    env.robot.step = patched


def _two_steps(env_id, blow_up):
    """Step 1 normal, step 2 blows up row 0 (if asked). Returns the env, the rewards, step
    2's termination and info, the action gradients of ``r1 + r2`` and of ``r1`` alone."""
    env = _env(env_id, native=False)
    a1 = random_actions(env, 1).requires_grad_()
    a2 = random_actions(env, 2).requires_grad_()
    _, r1, _, _, _ = env.step_differentiable(a1)
    if blow_up:
        _blow_up_row0(env)
    _, r2, terminated, _, info = env.step_differentiable(a2)
    g1_own = grad_or_zero(r1.sum(), [a1])[0]
    grads = grad_or_zero(r1.sum() + r2.sum(), [a1, a2])
    return env, (r1, r2), terminated, info, grads, g1_own


def test_a_row_that_blows_up_passes_no_gradient_and_leaves_the_others_alone(env_id):
    env, (_, r2), terminated, info, (g1, g2), _ = _two_steps(env_id, blow_up=True)
    _, (_, r2_ref), terminated_ref, _, (g1_ref, g2_ref), g1_own = _two_steps(env_id, blow_up=False)
    assert info["diverged"][0] and terminated[0] and r2[0] == 0
    assert int(env.num_diverged) == 1
    assert torch.isfinite(r2).all() and torch.isfinite(info["final_info"]["episode_return"]).all()
    for key, term in info.items():
        if key.startswith("reward/"):
            assert torch.isfinite(term).all(), key
    assert torch.isfinite(g1).all() and torch.isfinite(g2).all()
    assert (g2[0] == 0).all()  # the blown-up step gives its action nothing
    # Row 0's first action keeps exactly the gradient of its own (finite) first reward.
    torch.testing.assert_close(g1[0], g1_own[0], rtol=1e-12, atol=1e-12)
    # Rows 1.. are untouched, values and gradients alike.
    torch.testing.assert_close(r2[1:], r2_ref[1:], rtol=0, atol=0)
    assert torch.equal(terminated[1:], terminated_ref[1:])
    torch.testing.assert_close(g1[1:], g1_ref[1:], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g2[1:], g2_ref[1:], rtol=1e-12, atol=1e-12)


def test_row_guard_with_a_state_gradient(env_id):
    """The gradient with respect to the start state of a blown-up row is zero, not NaN."""
    env = _env(env_id, native=False)
    if not env.differentiable:
        pytest.skip("the robot's step is not differentiable")
    start = clone_state(env.get_state())
    fields = _float_robot_fields(env)
    leaves = {k: start[k].clone().requires_grad_() for k in fields}
    env.set_state({**start, **leaves})
    _blow_up_row0(env)
    _, reward, _, _, _ = env.step_differentiable(random_actions(env, 3))
    grads = torch.autograd.grad(reward.sum(), list(leaves.values()), allow_unused=True)
    for name, g in zip(fields, grads):
        if g is not None:
            assert torch.isfinite(g).all() and (g[0] == 0).all(), name
