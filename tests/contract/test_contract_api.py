"""The Gymnasium / SB3 side of the contract and the graph semantics, for every registered id."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

import diffenvs
from diffenvs.contract import reward_terms

from .conftest import (
    TOY_ID,
    clone_state,
    grad_or_zero,
    make_vec,
    obs_items,
    obs_rows,
    obs_sum,
    random_actions,
    states_equal,
)


# ------------------------------------------------------------ checkers, make
def test_gymnasium_check_env(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no checker warnings either, except the advice on
        # unbounded Box observations (true here, as in Gymnasium's MuJoCo envs)
        warnings.filterwarnings("ignore", message=".*Box observation space (minimum|maximum) value is")
        gym_check_env(env.unwrapped, skip_render_check=True)


def test_sb3_check_env(env_id):
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    with warnings.catch_warnings():
        # SB3 advises on Dict observations and unbounded boxes; neither is a contract breach.
        warnings.filterwarnings("ignore", message=".*(Dict|unbounded|symmetric|normaliz).*")
        sb3_checker.check_env(gym.make(env_id), warn=True)


def test_torchrl_native_adapter_specs(env_id):
    """TorchRL's own spec check passes on the torch-native adapter of every id, and a rollout
    across episode ends (TorchRL resetting finished envs) stays inside the specs."""
    pytest.importorskip("torchrl")
    from torchrl.envs.utils import check_env_specs

    from diffenvs.wrappers.torchrl import DiffTorchRLEnv

    env = DiffTorchRLEnv(env_id, num_envs=3, seed=0, max_episode_steps=3)
    check_env_specs(env, seed=1)
    data = env.rollout(7, break_when_any_done=False)
    assert data.shape == (3, 7) and int(data["next", "done"].sum()) >= 3 * 2  # 3-step episodes: >= 2 ends each
    keys = list(env.observation_spec.keys())
    assert all(env.observation_spec.is_in(data["next"][:, t].select(*keys)) for t in range(7))


def test_make_with_module_prefix_and_single_env_types(env_id):
    env = gym.make("diffenvs:" + env_id)
    assert env.spec.max_episode_steps == diffenvs.env_spec(env_id).max_episode_steps
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    obs2, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert type(reward) is float and type(terminated) is bool and type(truncated) is bool
    for (_, a), (_, b) in zip(obs_items(obs), obs_items(obs2)):
        assert a.dtype == np.float32 and not np.shares_memory(a, b)


# ------------------------------------------------------------- vector env API
def test_make_vec_is_a_same_step_vector_env_with_batched_spaces(env_id):
    n = 3
    env = make_vec(env_id, n)
    assert isinstance(env, gym.vector.VectorEnv) and env.num_envs == n
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert env.max_episode_steps == diffenvs.env_spec(env_id).max_episode_steps
    single_obs, single_act = env.single_observation_space, env.single_action_space
    assert isinstance(single_obs, gym.spaces.Box | gym.spaces.Dict)
    assert isinstance(single_act, gym.spaces.Box) and single_act.dtype == np.float32
    assert single_act.shape == (env.action_dim,)
    assert np.all(single_act.low == -1) and np.all(single_act.high == 1)
    assert env.observation_space == batch_space(single_obs, n)
    assert env.action_space == batch_space(single_act, n) and env.action_space.shape == (n, env.action_dim)
    for _, space in obs_items(getattr(single_obs, "spaces", single_obs)):
        assert isinstance(space, gym.spaces.Box) and space.dtype == np.float32

    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and isinstance(info, dict)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    assert isinstance(reward, np.ndarray) and reward.shape == (n,) and reward.dtype == np.float32
    for flag in (terminated, truncated):
        assert isinstance(flag, np.ndarray) and flag.shape == (n,) and flag.dtype == np.bool_
    assert isinstance(reward_terms(info), dict)


def test_step_returns_numpy_copies(env_id):
    env = make_vec(env_id, 3)
    env.reset(seed=1)
    actions = random_actions(env, 0).cpu().numpy()
    obs, reward, terminated, truncated, info = env.step(actions)
    state, env_obs = clone_state(env.get_state()), {k: v.clone() for k, v in obs_items(env.obs)}
    for _, v in obs_items(obs):
        v[...] = 123.0
    reward[...] = 5.0
    terminated[...] = True
    truncated[...] = True
    for value in reward_terms(info).values():
        value[...] = 7.0
    for value in info.values():
        if isinstance(value, np.ndarray):
            value[...] = 1
    assert states_equal(env.get_state(), state), "mutating step()'s numpy output changed the env state"
    for k, v in obs_items(env.obs):
        assert torch.equal(v, env_obs[k]), "mutating step()'s numpy output changed env.obs"
    obs2, *_ = env.step(actions)
    for (_, a), (_, b) in zip(obs_items(obs), obs_items(obs2)):
        assert not np.shares_memory(a, b)
    # The env keeps working after the copies were mutated.
    assert all(np.isfinite(v).all() for _, v in obs_items(obs2))


def test_step_differentiable_returns_tensors_with_gradient(env_id):
    env = make_vec(env_id, 3, dtype=torch.float64)
    env.reset(seed=2)
    actions = random_actions(env, 0, 0.5).requires_grad_()
    obs, reward, terminated, truncated, info = env.step_differentiable(actions)
    for _, v in obs_items(obs):
        assert isinstance(v, torch.Tensor) and v.dtype == env.dtype and v.device == env.device
    assert isinstance(reward, torch.Tensor) and reward.shape == (3,) and reward.dtype == env.dtype
    assert terminated.dtype == torch.bool and truncated.dtype == torch.bool
    if not env.differentiable:
        return
    (g_reward,) = grad_or_zero(reward.sum(), [actions])
    (g_obs,) = grad_or_zero(obs_sum(obs), [actions])
    assert g_reward.abs().sum() > 0, "reward carries no gradient to the actions"
    assert g_obs.abs().sum() > 0, "observation carries no gradient to the actions"
    # Each row's reward depends on its own action only.
    (g_row0,) = grad_or_zero(reward[0], [actions])
    assert g_row0[0].abs().sum() > 0 and g_row0[1:].abs().sum() == 0


def test_autoreset_same_step_final_obs_keeps_gradient(env_id):
    n = 3
    env = make_vec(env_id, n, dtype=torch.float64, max_episode_steps=3)
    env.reset(seed=3)
    # Stagger the episodes: row 0 truncates after 1 step, row 1 after 2, row 2 after 3.
    state = clone_state(env.get_state())
    state["step"] = torch.tensor([2, 1, 0])
    env.set_state(state)
    actions = random_actions(env, 0, 0.3, steps=3).requires_grad_()
    ended = torch.zeros(n, dtype=torch.bool)
    for t, a in enumerate(actions.unbind(0)):
        obs, reward, terminated, truncated, info = env.step_differentiable(a)
        done = terminated | truncated
        assert torch.equal(info["_final_obs"], done)
        assert done[t] or ended[t], f"row {t} should end by step {t + 1} (truncation)"
        ended |= done
        rows = done.nonzero().flatten()
        # The returned observation of finished rows is a fresh episode start without a graph...
        assert (env.get_state()["step"][rows] == 0).all()
        (g_fresh,) = grad_or_zero(obs_sum(obs_rows(obs, rows)), [actions])
        assert g_fresh.abs().sum() == 0, "fresh episode starts must carry no gradient"
        # ... and info["final_obs"] holds the true last observation, with its gradient.
        final = obs_rows(info["final_obs"], rows)
        for (_, f), (_, o) in zip(obs_items(final), obs_items(obs_rows(obs, rows))):
            assert not torch.equal(f, o)
        if env.differentiable:
            (g_final,) = grad_or_zero(obs_sum(final), [actions])
            assert g_final[: t + 1].abs().sum() > 0, "info['final_obs'] lost its gradient"
            (g_rew,) = grad_or_zero(reward[rows].sum(), [actions])
            assert g_rew.abs().sum() > 0, "the last step's reward lost its gradient"
    assert ended.all()


def test_detach_cuts_the_graph(env_id):
    env = make_vec(env_id, 2, dtype=torch.float64)
    env.reset(seed=4)
    a1 = random_actions(env, 1, 0.5).requires_grad_()
    env.step_differentiable(a1)
    env.detach()
    assert not any(v.requires_grad for v in env.get_state().values())
    assert not any(v.requires_grad for _, v in obs_items(env.obs))
    a2 = random_actions(env, 2, 0.5).requires_grad_()
    obs, reward, _, _, info = env.step_differentiable(a2)
    g1, g2 = grad_or_zero(reward.sum() + obs_sum(obs), [a1, a2])
    assert g1.abs().sum() == 0, "gradient crossed detach()"
    if env.differentiable:
        assert g2.abs().sum() > 0


def _graph_leaks(info, path=""):
    """Paths of info entries (outside final_obs and reward_terms) that carry a graph."""
    leaks = []
    for key, value in info.items():
        if path == "" and (key == "final_obs" or key.startswith("reward/")):
            continue
        if isinstance(value, dict):
            leaks += _graph_leaks(value, f"{path}{key}.")
        elif isinstance(value, torch.Tensor) and value.requires_grad:
            leaks.append(path + key)
    return leaks


def test_info_metrics_carry_no_graph(env_id):
    env = make_vec(env_id, 3, dtype=torch.float64, max_episode_steps=2)
    env.reset(seed=5)
    for t in range(3):  # the second step ends every episode: final_info is filled
        _, _, _, _, info = env.step_differentiable(random_actions(env, t, 0.5).requires_grad_())
        assert _graph_leaks(info) == []


def test_every_metric_has_a_unit_and_is_reported(env_id):
    env = make_vec(env_id, 2, max_episode_steps=1)
    task = env.task
    assert set(task.metric_units) == set(task.metric_names), "metric_units must give the unit of every metric"
    assert all(isinstance(u, str) and u for u in task.metric_units.values())
    main, _ = task.main_metric
    assert main == "episode_return" or main in task.metric_names
    env.reset(seed=0)
    _, _, _, _, info = env.step(random_actions(env, 0, 0.5).cpu().numpy())
    assert set(task.metric_names) <= set(info)


def test_reward_is_the_sum_of_named_terms(env_id):
    env = make_vec(env_id, 4, dtype=torch.float64)
    env.reset(seed=6)
    names = [t.name for t in env.reward_terms]
    assert len(set(names)) == len(names)
    for t in range(3):
        actions = random_actions(env, t, 0.5).requires_grad_()
        _, reward, _, _, info = env.step_differentiable(actions)
        terms = reward_terms(info)
        assert list(terms) == names
        alive = ~info["diverged"]  # a diverged row gets reward 0
        total = torch.stack(list(terms.values())).sum(0)
        torch.testing.assert_close(reward[alive], total[alive], rtol=1e-12, atol=1e-12)
        for term in env.reward_terms:
            value = terms[term.name]
            assert value.shape == (4,)
            if not term.differentiable:  # detached, as RewardTerm documents, and no gradient
                assert not value.requires_grad, f"non-differentiable term {term.name!r} is not detached"
                (g,) = grad_or_zero(value.sum(), [actions])
                assert g.abs().sum() == 0, f"non-differentiable term {term.name!r} carries a gradient"
    # The numpy step reports the same terms.
    _, reward, _, _, info = env.step(random_actions(env, 9, 0.5).cpu().numpy())
    assert list(reward_terms(info)) == names
    total = np.sum([v for v in reward_terms(info).values()], axis=0)
    np.testing.assert_allclose(reward[~info["diverged"]], total[~info["diverged"]], rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------- check_vector_env
def test_check_vector_env_accepts_every_registered_env(env_id):
    env = make_vec(env_id, 2)
    diffenvs.check_vector_env(env)  # before the first reset too (trainers check what they are given)
    diffenvs.check_vector_env(env, need_autoreset=True)
    env.reset(seed=0)
    diffenvs.check_vector_env(env, need_autoreset=True)
    with pytest.raises(ValueError, match="SAME_STEP"):
        diffenvs.check_vector_env(make_vec(env_id, 2, autoreset=False), need_autoreset=True)


def test_check_vector_env_rejects_an_incomplete_env_naming_the_members():
    class HalfEnv:
        num_envs = 2
        device = torch.device("cpu")
        dtype = torch.float32

        def reset(self): ...

        def step(self, actions): ...

    with pytest.raises(TypeError, match=r"HalfEnv lacks \[.*'step_differentiable'.*\]") as err:
        diffenvs.check_vector_env(HalfEnv(), who="the test")
    message = str(err.value)
    assert "the test" in message
    for member in ("single_observation_space", "detach", "get_state", "set_state", "reward_terms"):
        assert repr(member) in message
    for present in ("'num_envs'", "'reset'", "'step'"):
        assert present not in message.split("lacks")[1]
    with pytest.raises(TypeError, match="lacks"):
        diffenvs.check_vector_env(gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync"))


def test_toy_is_only_registered_while_in_use():
    assert TOY_ID not in diffenvs.env_specs() and TOY_ID not in gym.registry
