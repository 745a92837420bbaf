"""Batched equals single envs (with staggered episode ends), and seeded determinism."""

from __future__ import annotations

import io

import gymnasium as gym
import numpy as np
import torch

from diffenvs.contract import reward_terms

from .conftest import assert_obs_close, clone_state, make_vec, obs_items, obs_rows, random_actions

TOL = dict(rtol=1e-5, atol=1e-6)  # float64 simulations compared after the float32 conversion


def _single(env_id, max_episode_steps, row_state, seed):
    """A ``gym.make`` env (float64) that continues from one row of a batched state."""
    env = gym.make(env_id, max_episode_steps=max_episode_steps, dtype=torch.float64)
    env.reset(seed=seed)
    obs = env.unwrapped.set_state({k: v.clone() for k, v in row_state.items()})
    return env, obs


def test_batched_env_equals_single_envs_with_staggered_resets(env_id):
    n, horizon, max_steps = 4, 9, 6
    venv = make_vec(env_id, n, dtype=torch.float64, max_episode_steps=max_steps)
    venv.reset(seed=5)
    # Desynchronise the episodes: the rows are 0, 2, 4 and 5 steps into theirs, so they
    # truncate after 6, 4, 2 and 1 steps, and rows 2 and 3 end again in their fresh episodes.
    state = clone_state(venv.get_state())
    state["step"] = torch.tensor([0, 2, 4, 5])
    venv.set_state(state)
    singles = []
    for i in range(n):
        env, obs = _single(env_id, max_steps - int(state["step"][i]), {k: v[i] for k, v in state.items()}, i)
        assert_obs_close(obs, obs_rows(venv._to_numpy_obs(venv.obs), i), rtol=0, atol=0)
        singles.append(env)

    gen = np.random.default_rng(0)
    ends = []
    for t in range(horizon):
        actions = gen.uniform(-1, 1, (n, venv.action_dim))
        b_obs, b_rew, b_term, b_trunc, b_info = venv.step(actions)
        for i, env in enumerate(singles):
            obs, rew, term, trunc, info = env.step(actions[i])
            assert (bool(b_term[i]), bool(b_trunc[i])) == (term, trunc), f"row {i}, step {t}"
            np.testing.assert_allclose(b_rew[i], rew, **TOL, err_msg=f"reward of row {i}, step {t}")
            for name, value in reward_terms(info).items():
                np.testing.assert_allclose(reward_terms(b_info)[name][i], value, **TOL, err_msg=name)
            if term or trunc:
                ends.append((t, i))
                assert b_info["_final_obs"][i]
                assert_obs_close(obs_rows(b_info["final_obs"], i), obs, **TOL)
                # Continue the single env from the batched env's fresh episode.
                fresh = {k: v[i] for k, v in venv.get_state().items()}
                assert fresh["step"] == 0
                singles[i], obs = _single(env_id, max_steps, fresh, 100 + t)
                assert_obs_close(obs_rows(b_obs, i), obs, rtol=0, atol=0)
            else:
                assert not b_info["_final_obs"][i]
                assert_obs_close(obs_rows(b_obs, i), obs, **TOL, err_msg=f"obs of row {i}, step {t}")
    assert len({t for t, _ in ends}) >= 3, f"episodes should end at different steps, got {ends}"
    assert len(ends) > len({i for _, i in ends}), "some row should finish its fresh episode too"


# ------------------------------------------------------------------ determinism
def _rollout(env, steps, seed=0):
    """Flat list of every output of ``steps`` steps (obs, reward, flags, final obs, state)."""
    out = []
    for t in range(steps):
        obs, reward, terminated, truncated, info = env.step(random_actions(env, seed + t).cpu().numpy())
        out += [v for _, v in obs_items(obs)] + [reward, terminated, truncated, info["_final_obs"]]
        out += [v for _, v in obs_items(info["final_obs"])]
        out += [v.cpu().numpy().copy() for v in env.get_state().values()]
    return out


def _assert_identical(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_seeded_rollouts_are_bit_identical(env_id):
    def run(seed):
        env = make_vec(env_id, 4, max_episode_steps=3)
        obs, _ = env.reset(seed=seed)
        return [v for _, v in obs_items(obs)] + _rollout(env, 20)

    first = run(7)
    _assert_identical(first, run(7))
    other = run(8)
    assert any(not np.array_equal(x, y) for x, y in zip(first, other)), "a different seed gave the same rollout"


def test_state_and_runtime_state_restore_an_identical_continuation(env_id):
    env = make_vec(env_id, 4, max_episode_steps=3)
    env.reset(seed=11)
    _rollout(env, 5, seed=50)
    saved = {"state": clone_state(env.get_state()), "runtime": env.get_runtime_state()}
    buffer = io.BytesIO()
    torch.save(saved, buffer)  # both fit a weights_only checkpoint
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    # 20 more steps: several autoresets and a refill of the pool of episode starts.
    expected = _rollout(env, 20, seed=100)

    other = make_vec(env_id, 4, max_episode_steps=3)
    other.reset(seed=999)
    other.set_state(loaded["state"])
    other.set_runtime_state(loaded["runtime"])
    _assert_identical(_rollout(other, 20, seed=100), expected)
