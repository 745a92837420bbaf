"""Bad input gets a clear error naming the problem, and commits nothing (SPEC §2)."""

from __future__ import annotations

import dataclasses
import typing

import gymnasium as gym
import numpy as np
import pytest
import torch

from .conftest import clone_state, grad_or_zero, make_vec, obs_items, random_actions, states_equal


def _env(env_id, n=3, **kwargs):
    env = make_vec(env_id, n, max_episode_steps=2, **kwargs)  # short episodes: autoresets in play
    env.reset(seed=0)
    env.step(random_actions(env, 0).cpu().numpy())
    return env


def _snapshot(env):
    return clone_state(env.get_state()), [v.clone() for _, v in obs_items(env.obs)]


def _assert_unchanged(env, snapshot):
    state, obs = snapshot
    assert states_equal(env.get_state(), state), "a rejected call changed the env state"
    assert all(torch.equal(a, b) for (_, a), b in zip(obs_items(env.obs), obs)), "a rejected call changed env.obs"


# ---------------------------------------------------------------------- actions
def test_wrong_action_shape_dtype_type_and_device(env_id):
    env = _env(env_id)
    n, a = env.num_envs, env.action_dim
    snap = _snapshot(env)
    shape = rf"shape \({n}, {a}\)"
    with pytest.raises(ValueError, match=shape):
        env.step(np.zeros((n, a + 1), np.float32))
    with pytest.raises(ValueError, match=shape):
        env.step(np.zeros(a, np.float32))
    with pytest.raises(ValueError, match=shape):
        env.step_differentiable(torch.zeros(n + 1, a))
    with pytest.raises(TypeError, match="numeric"):
        env.step(np.array([["a"] * a] * n))
    with pytest.raises(TypeError, match=r"dtype torch.float64 .* env runs in torch.float32"):
        env.step_differentiable(torch.zeros(n, a, dtype=torch.float64))
    with pytest.raises(TypeError, match="expects a torch.Tensor"):
        env.step_differentiable(np.zeros((n, a), np.float32))
    with pytest.raises(TypeError, match="expects a torch.Tensor"):
        env.step_differentiable([[0.0] * a] * n)
    with pytest.raises(ValueError, match="on device meta but the env runs on cpu"):
        env.step_differentiable(torch.zeros(n, a, device="meta"))
    _assert_unchanged(env, snap)
    single = gym.make(env_id)
    single.reset(seed=0)
    with pytest.raises(ValueError, match=rf"shape \({a},\)"):
        single.step(np.zeros(a + 1, np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_actions_name_the_rows_and_commit_nothing(env_id, bad):
    env = _env(env_id, n=4)
    actions = random_actions(env, 1)
    actions[1, 0] = bad
    actions[3, -1] = bad
    snap = _snapshot(env)
    with pytest.raises(ValueError, match=r"NaN or inf in env row\(s\) \[1, 3\]"):
        env.step(actions.cpu().numpy())
    _assert_unchanged(env, snap)
    with pytest.raises(ValueError, match=r"NaN or inf in env row\(s\) \[1, 3\]"):
        env.step_differentiable(actions.clone().requires_grad_())
    _assert_unchanged(env, snap)
    env.step(random_actions(env, 2).cpu().numpy())  # the env still works


def test_rejected_non_finite_step_leaves_the_runtime_state_and_the_future_unchanged():
    env_id = "DiffPointMass-Reach-v0"
    env, twin = _env(env_id, n=2), _env(env_id, n=2)
    before = env.get_runtime_state()
    bad = random_actions(env, 1)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(bad.cpu().numpy())
    after = env.get_runtime_state()
    assert after["pool_next"] == before["pool_next"], "the rejected step consumed episode starts"
    for t in range(4):  # episodes of 2 steps: the autoresets must draw the same starts
        a = random_actions(env, 10 + t).cpu().numpy()
        o1, o2 = env.step(a)[0], twin.step(a)[0]
        for (_, x), (_, y) in zip(obs_items(o1), obs_items(o2)):
            np.testing.assert_array_equal(x, y)


def test_out_of_range_actions_are_clipped(env_id):
    env = make_vec(env_id, 4, dtype=torch.float64)
    env.reset(seed=0)
    start = clone_state(env.get_state())
    actions = random_actions(env, 3, 0.9)
    actions[0] = 10.0
    actions[1] = -10.0
    actions[2, 0] = 10.0
    actions[3, -1] = -10.0
    big, clipped = actions.clone().requires_grad_(), actions.clamp(-1, 1).requires_grad_()
    env.set_state(start)
    obs_big, reward_big = env.step_differentiable(big)[:2]
    state_big = clone_state(env.get_state())
    env.set_state(start)
    obs_clipped, reward_clipped = env.step_differentiable(clipped)[:2]
    assert states_equal(env.get_state(), state_big), "an action of 10 must act as 1"
    for (_, x), (_, y) in zip(obs_items(obs_big), obs_items(obs_clipped)):
        assert torch.equal(x, y)
    if env.differentiable:
        # The clip is straight-through: saturated actions still get the gradient of the clipped one.
        (g_big,) = grad_or_zero(reward_big.sum(), [big])
        (g_clipped,) = grad_or_zero(reward_clipped.sum(), [clipped])
        torch.testing.assert_close(g_big, g_clipped, rtol=1e-12, atol=0)
        assert (g_big[:2].abs().sum(-1) > 0).all(), "saturated actions lost their gradient"


@pytest.mark.parametrize("magnitude", [10.0, 1.7e7, 1e8, 1e30, 3e38])
def test_huge_actions_are_clipped_exactly_in_float32(env_id, magnitude):
    """An action of any finite magnitude acts as ±1 (float32, where rounding used to cancel it)."""
    env = make_vec(env_id, 2)
    env.reset(seed=0)
    start = clone_state(env.get_state())
    actions = torch.full((2, env.action_dim), magnitude)
    actions[1] = -magnitude
    big = actions.clone().requires_grad_()
    env.step_differentiable(big)
    state_big = clone_state(env.get_state())
    env.set_state(start)
    # (both with gradients: a robot may step without them on another path, equal only to rounding)
    env.step_differentiable(actions.clamp(-1, 1).requires_grad_())
    assert states_equal(env.get_state(), state_big), f"an action of {magnitude:g} must act as 1"


# ---------------------------------------------------------------------- options
def test_unknown_task_robot_and_reset_options(env_id):
    with pytest.raises(ValueError, match=r"unknown task .*option\(s\) \['no_such_option'\]"):
        make_vec(env_id, 2, task_options={"no_such_option": 1})
    with pytest.raises(ValueError, match=r"unknown task .*option\(s\) \['no_such_option'\]"):
        gym.make(env_id, task_options={"no_such_option": 1})
    with pytest.raises(ValueError, match=r"unknown robot .*option\(s\) \['no_such_option'\]"):
        make_vec(env_id, 2, no_such_option=1)
    with pytest.raises(ValueError, match=r"unknown robot .*option\(s\) \['no_such_option'\]"):
        make_vec(env_id, 2, robot_options={"no_such_option": 1})
    with pytest.raises(ValueError, match=r"unknown robot .*option\(s\) \['no_such_option'\]"):
        gym.make(env_id, no_such_option=1)
    env = _env(env_id)
    snap = _snapshot(env)
    with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['mask'\]"):
        env.reset(options={"mask": [True, False, True]})
    _assert_unchanged(env, snap)


def test_task_options_of_the_wrong_type_or_shape_fail_at_construction(env_id):
    """Every task option is checked against its declared type when the env is built (not at reset)."""
    env = make_vec(env_id, 2)
    config = type(env.task.cfg)
    hints = typing.get_type_hints(config)
    checked = 0
    for field in dataclasses.fields(config):
        value, hint = getattr(env.task.cfg, field.name), hints[field.name]
        if hint in (float, int) and not isinstance(value, bool):
            bad = "fast"
        elif typing.get_origin(hint) is tuple and Ellipsis not in typing.get_args(hint):
            bad = tuple(value)[:-1]  # one element short
        else:
            continue
        with pytest.raises(TypeError, match=rf"option '{field.name}' must be"):
            make_vec(env_id, 2, task_options={field.name: bad})
        checked += 1
    assert checked or not dataclasses.fields(config)


def test_bad_states_and_reset_masks(env_id):
    env = _env(env_id)
    n = env.num_envs
    snap = _snapshot(env)
    good = clone_state(env.get_state())
    first = next(iter(good))
    missing = {k: v for k, v in good.items() if k != first}
    with pytest.raises(ValueError, match=rf"missing \['{first}'\]"):
        env.set_state(missing)
    with pytest.raises(ValueError, match=rf"missing \['{first}'\]"):
        env.reset(options={"state": missing})
    with pytest.raises(ValueError, match=r"unknown \['bogus'\]"):
        env.set_state({**good, "bogus": torch.zeros(n)})
    with pytest.raises(ValueError, match=rf"state\['{first}'\] must have shape"):
        env.set_state({**good, first: good[first][:-1]})
    with pytest.raises(TypeError, match="state must be a dict"):
        env.set_state(torch.zeros(n, 3))
    with pytest.raises(ValueError, match=r"state\['step'\] .* must lie in \[0, max_episode_steps"):
        env.set_state({**good, "step": torch.full((n,), -1)})
    with pytest.raises(ValueError, match=r"state\['step'\] .* must lie in \[0, max_episode_steps = \d+\]"):
        env.set_state({**good, "step": torch.full((n,), env.max_episode_steps + 1)})
    for bad_mask, error, phrase in ((np.full(n, 2), ValueError, "booleans"), ("yes", TypeError, "string"),
                                    (np.full(n, 0.5), ValueError, "booleans")):
        with pytest.raises(error, match=f"reset_mask .*{phrase}"):
            env.reset(options={"reset_mask": bad_mask})
    env.reset(options={"reset_mask": np.zeros(n, dtype=np.int64)})  # 0/1 integers are accepted
    with pytest.raises(TypeError, match="reset options must be a dict"):
        env.reset(options=[("reset_mask", np.ones(n, bool))])
    with pytest.raises(ValueError, match="seed must be one int for the whole batch"):
        env.reset(seed=[1, 2])
    with pytest.raises(TypeError, match="seed must be an int or None"):
        env.reset(seed="0")
    floats = [k for k, f in env.state_spec.items() if f.dtype == "float"]
    nan_state = {**good, floats[0]: good[floats[0]].clone().fill_(float("nan"))}
    with pytest.raises(ValueError, match=rf"state\['{floats[0]}'\] contains NaN or inf"):
        env.set_state(nan_state)
    with pytest.raises(ValueError, match=rf"reset_mask must have shape \({n},\)"):
        env.reset(options={"reset_mask": np.ones(n + 1, bool)})
    with pytest.raises(ValueError, match=rf"reset_mask must have shape \({n},\)"):
        env.set_state(good, torch.ones(n - 1, dtype=torch.bool))
    _assert_unchanged(env, snap)
    # The same state put back with a mask changes only the masked rows.
    mask = torch.zeros(n, dtype=torch.bool)
    mask[1] = True
    fresh = env.sample_initial_states()
    env.set_state(fresh, mask)
    state = env.get_state()
    for k in state:
        assert torch.equal(state[k][1], fresh[k][1]) and torch.equal(state[k][0], good[k][0])
