"""The stable-baselines3 VecEnv adapter (diffenvs.wrappers.sb3)."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import quad_env

import diffenvs
from diffenvs.contract import state_clone

pytest.importorskip("stable_baselines3")

from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize  # noqa: E402

from diffenvs.wrappers import SB3VecEnv, make_sb3_env  # noqa: E402

N = 6


def _actions(rng: np.random.Generator, n: int = N) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size=(n, 4)).astype(np.float32)


# ---------------------------------------------------------------------- contract
def test_vecenv_api_contract():
    venv = make_sb3_env("DiffQuad-Hover-v0", num_envs=N, seed=0)
    assert isinstance(venv, VecEnv)
    assert venv.num_envs == N
    assert venv.observation_space == venv.batched_env.single_observation_space
    assert venv.action_space == venv.batched_env.single_action_space
    assert venv.render_mode is None
    assert venv.metadata["render_modes"] == []

    obs = venv.reset()
    assert isinstance(obs, np.ndarray) and obs.shape == (N, *venv.observation_space.shape)
    assert len(venv.reset_infos) == N and all(isinstance(i, dict) for i in venv.reset_infos)

    out = venv.step(_actions(np.random.default_rng(0)))
    assert isinstance(out, tuple) and len(out) == 4
    obs, rewards, dones, infos = out
    assert obs.shape == (N, *venv.observation_space.shape)
    assert rewards.shape == (N,) and dones.shape == (N,) and dones.dtype == bool
    assert isinstance(infos, list) and len(infos) == N
    assert all(isinstance(i, dict) and i["TimeLimit.truncated"] is False for i in infos)
    assert len({id(i) for i in infos}) == N  # distinct dicts

    # step_async / step_wait split
    venv.step_async(np.zeros((N, 4), np.float32))
    assert len(venv.step_wait()) == 4
    with pytest.raises(RuntimeError, match="step_async"):
        venv.step_wait()

    seeds = venv.seed(7)
    assert list(seeds) == [7 + i for i in range(N)]
    assert venv.has_attr("num_envs") and not venv.has_attr("no_such_attribute")
    venv.close()
    venv.close()  # idempotent


def test_rejects_non_diffquad_and_non_autoreset():
    with pytest.raises(TypeError, match="differentiable vector env"):
        SB3VecEnv(gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync"))
    with pytest.raises(ValueError, match="autoreset"):
        SB3VecEnv(quad_env(num_envs=2, autoreset=False))


def test_accepts_gymnasium_vector_wrapper():
    base = quad_env(num_envs=3)
    wrapped = gym.wrappers.vector.RecordEpisodeStatistics(base)
    venv = SB3VecEnv(wrapped)
    assert venv.batched_env is base
    venv.reset()
    assert venv.step(np.zeros((3, 4), np.float32))[0].shape == (3, base.task.obs_dim)
    assert venv.get_attr("num_envs") == [3, 3, 3]


def test_dtypes_and_writability():
    venv = make_sb3_env("DiffQuad-Tracking-v0", num_envs=N, seed=0, dtype=torch.float64, max_episode_steps=3)
    obs = venv.reset()
    assert obs.dtype == np.float32 and obs.flags.writeable
    rng = np.random.default_rng(1)
    for _ in range(3):
        obs, rewards, dones, infos = venv.step(_actions(rng))
        for arr in (obs, rewards):
            assert arr.dtype == np.float32 and arr.flags.writeable and arr.flags.owndata
            arr[...] = 0.0  # writing must not touch the env
        assert dones.dtype == np.bool_
    assert dones.all()
    for info in infos:
        term = info["terminal_observation"]
        assert term.dtype == np.float32 and term.shape == venv.observation_space.shape and term.flags.writeable
        assert isinstance(info["episode"]["r"], float) and info["episode"]["l"] == 3
        assert isinstance(info["success"], bool) and isinstance(info["pos_error"], float)
    assert np.isfinite(venv.batched_env.obs.numpy()).all()  # env state untouched by the writes above


# ---------------------------------------------------------- terminal observations
def test_truncation_terminal_observation_matches_raw_env():
    kwargs = dict(num_envs=N, max_episode_steps=5)
    venv = make_sb3_env("DiffQuad-Hover-v0", seed=3, **kwargs)
    raw = gym.make_vec("DiffQuad-Hover-v0", **kwargs)  # same autoresetting env, stepped directly
    ref = quad_env(task="hover", autoreset=False, **kwargs)  # no reset: true last obs
    obs = venv.reset()
    raw_obs, _ = raw.reset(seed=3)
    ref_obs, _ = ref.reset(seed=3)
    np.testing.assert_array_equal(obs, raw_obs)
    np.testing.assert_array_equal(obs, ref_obs)

    rng = np.random.default_rng(0)
    for t in range(5):
        a = _actions(rng)
        obs, rewards, dones, infos = venv.step(a)
        raw_obs, raw_rew, raw_term, raw_trunc, raw_info = raw.step(a)
        ref_obs, *_ = ref.step(a)
        np.testing.assert_array_equal(obs, raw_obs)
        np.testing.assert_array_equal(rewards, raw_rew)
        if t < 4:
            assert not dones.any()
            assert all("terminal_observation" not in i and "episode" not in i for i in infos)
            np.testing.assert_array_equal(obs, ref_obs)

    assert dones.all() and raw_trunc.all() and not raw_term.any()
    terminal = np.stack([i["terminal_observation"] for i in infos])
    np.testing.assert_array_equal(terminal, raw_info["final_obs"])
    np.testing.assert_array_equal(terminal, ref_obs)  # the pre-reset observation
    assert all(i["TimeLimit.truncated"] is True for i in infos)
    # the returned obs belongs to the new episode: a fresh reset state at step 0
    assert not np.allclose(obs, terminal)
    assert (venv.batched_env.state["step"] == 0).all()
    np.testing.assert_array_equal(obs, venv.batched_env.obs.numpy())
    # episode stats and metrics from final_info
    for k, info in enumerate(infos):
        assert info["episode"]["l"] == 5
        assert info["episode"]["r"] == pytest.approx(float(raw_info["final_info"]["episode_return"][k]))
        assert info["pos_error"] == pytest.approx(float(raw_info["final_info"]["pos_error"][k]))
        assert info["success"] == bool(raw_info["final_info"]["success"][k])


def test_termination_by_tiny_arena_is_not_truncation():
    # Every start state is outside a 1 cm arena: each step terminates; truncation (limit 1) must lose.
    venv = make_sb3_env("DiffQuad-Hover-v0", num_envs=N, seed=0, max_episode_steps=1,
                        task_options={"arena_high": (0.01, 0.01, 0.01)})
    venv.reset()
    _, _, dones, infos = venv.step(np.zeros((N, 4), np.float32))
    assert dones.all()
    for info in infos:
        assert info["TimeLimit.truncated"] is False
        assert info["out_of_bounds"] is True and info["diverged"] is False
        assert info["terminal_observation"].shape == venv.observation_space.shape
        assert info["episode"]["l"] == 1


def test_termination_of_one_row_via_set_state():
    venv = make_sb3_env("DiffQuad-Landing-v0", num_envs=N, seed=0)
    venv.reset()
    state = state_clone(venv.batched_env.get_state())
    state["pos"][0, 2] = 0.02
    state["vel"][0] = torch.tensor([0.0, 0.0, -3.0])  # falling fast: below the ground (out of the arena) next step
    venv.env_method("set_state", state)
    obs, _, dones, infos = venv.step(np.zeros((N, 4), np.float32))
    assert dones.tolist() == [True] + [False] * (N - 1)
    assert infos[0]["TimeLimit.truncated"] is False and infos[0]["out_of_bounds"] is True
    # the terminal obs sees the drone below the ground; the returned obs is a fresh start above it
    # (landing obs[2] = (pad_z - z) * POS_SCALE: positive below the pad)
    assert infos[0]["terminal_observation"][2] > 0 > obs[0, 2]
    assert set(infos[0]) >= {"terminal_observation", "episode", "success", "xy_error", "height"}
    assert all(set(i) == {"TimeLimit.truncated"} for i in infos[1:])


def test_racing_metrics_are_python_scalars():
    venv = make_sb3_env("DiffQuad-Racing-v0", num_envs=4, seed=0, max_episode_steps=2)
    venv.reset()
    venv.step(np.zeros((4, 4), np.float32))
    _, _, dones, infos = venv.step(np.zeros((4, 4), np.float32))
    assert dones.all()
    for info in infos:
        assert type(info["gates_passed"]) is float and type(info["lap_time"]) is float
        assert type(info["gate_passed"]) is bool


# ------------------------------------------------------------- SB3 wrappers
def test_vec_monitor_does_not_double_count():
    venv = make_sb3_env("DiffQuad-Hover-v0", num_envs=N, seed=0, max_episode_steps=20)
    mon = VecMonitor(venv, info_keywords=("success",))
    mon.reset()
    rng = np.random.default_rng(0)
    returns = np.zeros(N)
    n_done = n_episode_infos = 0
    for _ in range(100):
        _, rewards, dones, infos = mon.step(_actions(rng) * 0.1)
        returns += rewards
        n_done += int(dones.sum())
        n_episode_infos += sum("episode" in i for i in infos)
        for k in np.flatnonzero(dones):
            ep = infos[k]["episode"]
            assert ep["l"] == 20
            assert ep["r"] == pytest.approx(returns[k], rel=1e-4, abs=1e-4)
            assert "success" in ep  # VecMonitor picked up the adapter's metric
            returns[k] = 0.0
    assert n_done == n_episode_infos == 5 * N
    assert mon.episode_count == 5 * N


def test_vec_normalize_over_vec_monitor():
    venv = make_sb3_env("DiffQuad-Tracking-v0", num_envs=16, seed=0, max_episode_steps=50)
    env = VecNormalize(VecMonitor(venv))
    obs = env.reset()
    assert np.isfinite(obs).all()
    rng = np.random.default_rng(0)
    episodes = []
    for _ in range(300):
        obs, rewards, dones, infos = env.step(_actions(rng, 16) * 0.2)
        assert obs.dtype == np.float32 and np.isfinite(obs).all() and np.isfinite(rewards).all()
        for k in np.flatnonzero(dones):
            assert np.isfinite(infos[k]["terminal_observation"]).all()
            episodes.append(infos[k]["episode"])
    assert len(episodes) >= 16 * 5
    assert all(np.isfinite(e["r"]) and 1 <= e["l"] <= 50 for e in episodes)
    assert np.abs(obs).max() <= env.clip_obs


# ---------------------------------------------------------------------- seeding
def _rollout(seed: int, steps: int = 40):
    venv = make_sb3_env("DiffQuad-Landing-v0", num_envs=N, max_episode_steps=15)
    venv.seed(seed)
    out = [venv.reset()]
    rng = np.random.default_rng(0)
    for _ in range(steps):
        obs, rewards, dones, infos = venv.step(_actions(rng))
        out += [obs, rewards, dones.astype(np.float32)]
        out += [i["terminal_observation"] for i in infos if "terminal_observation" in i]
    return out


def test_seeding_is_reproducible():
    a, b, c = _rollout(11), _rollout(11), _rollout(12)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_seeds_and_options_are_used_once():
    venv = make_sb3_env("DiffQuad-Hover-v0", num_envs=N)
    venv.seed(5)
    first = venv.reset()
    assert venv._seeds == [None] * N
    second = venv.reset()  # unseeded: continues the RNG
    assert not np.array_equal(first, second)
    venv.seed(5)
    np.testing.assert_array_equal(venv.reset(), first)

    state = state_clone(venv.batched_env.get_state())
    venv.step(np.zeros((N, 4), np.float32))
    venv.set_options({"state": state})
    np.testing.assert_array_equal(venv.reset(), first)  # started from the given states
    assert venv._options == [{}] * N
    assert not np.array_equal(venv.reset(), first)

    venv.set_options([{"state": state}] + [{}] * (N - 1))  # one non-empty entry: used for the batch
    np.testing.assert_array_equal(venv.reset(), first)
    venv.set_options([{"reset_mask": np.ones(N, bool)}, {"state": state}] + [{}] * (N - 2))
    with pytest.raises(ValueError, match="one options dict"):
        venv.reset()


# ---------------------------------------------------------- attribute delegation
def test_get_set_attr_and_env_method():
    venv = make_sb3_env("DiffQuad-Hover-v0", num_envs=4, seed=0)
    venv.reset()
    assert venv.get_attr("num_envs") == [4, 4, 4, 4]
    assert venv.get_attr("num_envs", indices=[1, 3]) == [4, 4]
    assert venv.get_attr("max_episode_steps", indices=2) == [256]
    states = venv.env_method("get_state")
    assert isinstance(states, list) and len(states) == 4
    assert all(s is states[0] for s in states) and tuple(states[0]["pos"].shape) == (4, 3)
    assert venv.env_method("get_state", indices=[0]) and venv.env_method("get_state", indices=[]) == []
    venv.set_attr("grad_decay", 0.5)
    assert venv.batched_env.grad_decay == 0.5
    assert venv.env_is_wrapped(gym.Wrapper) == [False] * 4
    assert venv.env_is_wrapped(gym.Wrapper, indices=[0, 1]) == [False, False]
    with pytest.raises(AttributeError):
        venv.get_attr("no_such_attribute")
    with pytest.raises(IndexError):
        venv.get_attr("num_envs", indices=[4])


def test_get_images_list_semantics(monkeypatch):
    venv = make_sb3_env("DiffQuad-Hover-v0", num_envs=3)
    with pytest.warns(UserWarning, match="render"):
        assert venv.get_images() == [None, None, None]

    env = quad_env(num_envs=3, render_mode="rgb_array")
    frames = [np.full((8, 12, 3), i, np.uint8) for i in range(3)]
    monkeypatch.setattr(env, "render", lambda: frames)  # one frame per env (Gymnasium's vector convention)
    venv = SB3VecEnv(env)
    assert venv.render_mode == "rgb_array" and "rgb_array" in venv.metadata["render_modes"]
    images = venv.get_images()
    assert len(images) == 3 and all(a is b for a, b in zip(images, frames))
    assert venv.render().shape == (16, 24, 3)  # SB3 tiles the three frames 2 x 2


# ------------------------------------------------------------------------ PPO
@pytest.mark.parametrize("env_id", list(diffenvs.ENV_IDS))
def test_ppo_smoke(env_id):
    # Episodes of 20 steps end inside each 32-step rollout: exercises timeout bootstrapping.
    env = make_sb3_env(env_id, num_envs=4, max_episode_steps=20)
    policy = "MultiInputPolicy" if isinstance(env.observation_space, gym.spaces.Dict) else "MlpPolicy"
    model = PPO(policy, env, n_steps=32, batch_size=64, n_epochs=1, device="cpu", seed=0)
    model.learn(total_timesteps=2 * 32 * 4)
    assert model.num_timesteps == 2 * 32 * 4
    assert len(model.ep_info_buffer) > 0  # episode returns reach the logger without VecMonitor
    action, _ = model.predict(env.reset(), deterministic=True)
    assert action.shape == (4, env.action_space.shape[0])
    env.close()


# ---------------------------------------------------------------- lazy import
def test_import_diffenvs_does_not_import_sb3():
    code = (
        "import sys, diffenvs, diffenvs.wrappers\n"
        "assert 'stable_baselines3' not in sys.modules\n"
        "assert 'SB3VecEnv' in dir(diffenvs.wrappers)\n"
        "diffenvs.wrappers.SB3VecEnv\n"
        "assert 'stable_baselines3' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    with pytest.raises(AttributeError):
        diffenvs.wrappers.no_such_name  # noqa: B018


def test_get_images_with_real_renderer():
    pytest.importorskip("diffenvs.render")
    venv = make_sb3_env("DiffQuad-Racing-v0", num_envs=4, seed=0, render_mode="rgb_array")
    venv.reset()
    venv.step(np.zeros((4, 4), np.float32))
    images = venv.get_images()
    assert len(images) == 4 and all(i.ndim == 3 and i.shape[2] == 3 and i.dtype == np.uint8 for i in images)
    h, w, _ = images[0].shape
    assert venv.render().shape == (2 * h, 2 * w, 3)  # tiled 2 x 2 by SB3
    venv.close()


def test_rl_zoo3_hyperparameter_file_matches_the_paper_presets():
    """examples/rl_zoo3/ppo.yml (for rl-zoo3's --conf-file) holds the 'paper' PPO preset of each
    quadrotor id, in the zoo's format: its policy_kwargs string evaluates as the zoo does."""
    import pathlib

    import yaml
    from torch import nn

    from trainers import make_config

    conf = yaml.safe_load((pathlib.Path(__file__).parents[1] / "examples" / "rl_zoo3" / "ppo.yml").read_text())
    assert set(conf) == {i for i in diffenvs.ENV_IDS if i.startswith("DiffQuad-")}
    for env_id, hp in conf.items():
        cfg = make_config("ppo", env_id, "paper")
        assert hp["n_envs"] == cfg.num_envs and hp["policy"] == "MlpPolicy"
        for key in ("n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda", "clip_range", "ent_coef", "vf_coef",
                    "max_grad_norm", "learning_rate"):
            assert hp[key] == getattr(cfg, key), (env_id, key)
        assert eval(hp["normalize"]) == {"norm_obs": cfg.normalize_obs, "norm_reward": False}
        kwargs = eval(hp["policy_kwargs"], {"nn": nn, "dict": dict})  # as rl_zoo3 reads it
        assert kwargs["net_arch"] == cfg.net_arch and kwargs["activation_fn"] is nn.ReLU
        assert kwargs["log_std_init"] == cfg.log_std_init
        assert kwargs["optimizer_kwargs"] == {"eps": 1e-5, "weight_decay": cfg.weight_decay}
