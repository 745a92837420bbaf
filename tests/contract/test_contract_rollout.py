"""``rollout()`` (several steps in one call) is exactly that many ``step_differentiable`` calls:
values, autoresets, the random stream and gradients; and it rejects bad input without
committing anything."""

from __future__ import annotations

import re

import pytest
import torch

from .conftest import clone_state, grad_or_zero, make_vec, obs_items, random_actions, states_equal

STEPS = 21  # past several episode ends (max_episode_steps=4) and a refill of the pool of starts


def _pair(env_id, **kwargs):
    envs = [make_vec(env_id, 3, max_episode_steps=4, **kwargs) for _ in range(2)]
    for env in envs:
        env.reset(seed=3)
    return envs


def _policy(env):
    """A deterministic policy of every observation entry (a Box or a Dict)."""
    weights = torch.linspace(-1.0, 1.0, env.action_dim, dtype=env.dtype)

    def policy(obs):
        total = sum(v.flatten(1).sum(-1, keepdim=True) for _, v in obs_items(obs))
        return torch.tanh(0.3 * total + weights)

    return policy


def _stack_steps(outs):
    obs = [o[0] for o in outs]
    if isinstance(obs[0], dict):
        obs = {k: torch.stack([o[k] for o in obs]) for k in obs[0]}
    else:
        obs = torch.stack(obs)
    final = [o[4]["final_obs"] for o in outs]
    final = {k: torch.stack([o[k] for o in final]) for k in final[0]} if isinstance(final[0], dict) else \
        torch.stack(final)
    return obs, torch.stack([o[1] for o in outs]), torch.stack([o[2] for o in outs]), \
        torch.stack([o[3] for o in outs]), final


def _assert_same(rolled, stepped):
    obs, reward, terminated, truncated, info = rolled
    s_obs, s_reward, s_term, s_trunc, s_final = stepped
    for (k, x), (_, y) in zip(obs_items(obs), obs_items(s_obs)):
        assert torch.equal(x, y), f"observation entry {k}"
    for (k, x), (_, y) in zip(obs_items(info["final_obs"]), obs_items(s_final)):
        assert torch.equal(x, y), f"final observation entry {k}"
    assert torch.equal(reward, s_reward)
    assert torch.equal(terminated, s_term) and torch.equal(truncated, s_trunc)


def test_rollout_of_actions_equals_stepping(env_id):
    rolled_env, stepped_env = _pair(env_id)
    acts = random_actions(rolled_env, 0, steps=STEPS)
    rolled = rolled_env.rollout(acts)
    outs = [stepped_env.step_differentiable(a) for a in acts.unbind(0)]
    stepped = _stack_steps(outs)
    _assert_same(rolled, stepped)
    assert bool((rolled[2] | rolled[3]).sum() >= 6), "episodes should end inside the rollout"
    assert rolled[4]["actions"].shape == acts.shape
    assert states_equal(clone_state(rolled_env.state), clone_state(stepped_env.state))
    r_rt, s_rt = rolled_env.get_runtime_state(), stepped_env.get_runtime_state()
    assert all(torch.equal(torch.as_tensor(r_rt[k]), torch.as_tensor(s_rt[k])) for k in r_rt), "runtime state"
    # ... and the next steps continue identically.
    more = random_actions(rolled_env, 1)
    assert torch.equal(rolled_env.step_differentiable(more)[1], stepped_env.step_differentiable(more)[1])


def test_rollout_gradients_equal_stepping(env_id):
    rolled_env, stepped_env = _pair(env_id)  # a short rollout: the quadruped's backward is slow
    acts = random_actions(rolled_env, 2, steps=3).requires_grad_()
    rolled = rolled_env.rollout(acts)
    stepped = _stack_steps([stepped_env.step_differentiable(a) for a in acts.unbind(0)])
    (g_rolled,) = grad_or_zero(rolled[1].sum() + sum(v.sum() for _, v in obs_items(rolled[0])), [acts])
    (g_stepped,) = grad_or_zero(stepped[1].sum() + sum(v.sum() for _, v in obs_items(stepped[0])), [acts])
    assert torch.equal(g_rolled, g_stepped)
    if rolled_env.differentiable:
        assert g_rolled.abs().sum() > 0


def test_rollout_under_a_policy_equals_stepping(env_id):
    rolled_env, stepped_env = _pair(env_id)
    policy = _policy(rolled_env)
    rolled = rolled_env.rollout(policy=policy, steps=9)
    outs, actions = [], []
    for _ in range(9):
        actions.append(policy(stepped_env.obs))
        outs.append(stepped_env.step_differentiable(actions[-1]))
    _assert_same(rolled, _stack_steps(outs))
    assert torch.equal(rolled[4]["actions"], torch.stack(actions))


@pytest.mark.parametrize("policy_mode", [False, True])
def test_rollout_with_non_finite_actions_names_step_and_row_and_commits_nothing(env_id, policy_mode):
    env, _ = _pair(env_id)
    env.rollout(random_actions(env, 5, steps=12))
    before, runtime = clone_state(env.state), env.get_runtime_state()
    acts = random_actions(env, 0, steps=9)  # would refill the pool of 16 episode starts
    acts[7, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=re.escape("(step, env row) (7, 2)")):
        if policy_mode:
            steps = iter(acts.unbind(0))
            env.rollout(policy=lambda obs: next(steps), steps=9)
        else:
            env.rollout(acts)
    assert states_equal(clone_state(env.state), before)
    after = env.get_runtime_state()
    assert all(torch.equal(torch.as_tensor(after[k]), torch.as_tensor(runtime[k])) for k in runtime)


def test_rollout_rejects_bad_arguments_naming_the_fix(env_id):
    env, _ = _pair(env_id)
    acts = random_actions(env, 0, steps=2)
    with pytest.raises(ValueError, match=re.escape("(steps, num_envs, action_dim)")):
        env.rollout(acts[0])
    with pytest.raises(TypeError, match="cast with"):
        env.rollout(acts.to(torch.float16))
    with pytest.raises(TypeError, match="either actions or policy"):
        env.rollout(acts, policy=_policy(env), steps=2)
    with pytest.raises(TypeError, match="needs actions"):
        env.rollout()
    with pytest.raises(ValueError, match="positive int"):
        env.rollout(policy=_policy(env), steps=0)
    with pytest.raises(ValueError, match="leave steps out"):
        env.rollout(acts, steps=3)
