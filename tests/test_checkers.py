"""Gymnasium's and stable-baselines3's env checkers accept every registered id."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

import diffenvs
from diffenvs.contract import reward_terms

IDS = list(diffenvs.ENV_IDS)


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_check_env(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no checker warnings either, except the advice on
        # unbounded Box observations (true here, as in Gymnasium's MuJoCo envs)
        warnings.filterwarnings("ignore", message=".*Box observation space (minimum|maximum) value is")
        gym_check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", IDS)
def test_sb3_check_env(env_id):
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3_checker.check_env(gym.make(env_id).unwrapped, warn=True)


@pytest.mark.parametrize("env_id", [i for i in IDS if diffenvs.ENV_IDS[i].robot == "quadrotor"])
def test_single_env_types_and_time_limit(env_id):
    env = gym.make(env_id)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == env.observation_space.shape
    action = np.full(4, env.unwrapped.robot.vehicle.hover_action, np.float32)
    obs2, reward, terminated, truncated, info = env.step(action)
    assert type(reward) is float and type(terminated) is bool and type(truncated) is bool
    assert obs2 is not obs and not np.shares_memory(obs, obs2)
    assert reward_terms(info) and all(isinstance(v, float) for v in reward_terms(info).values())
    steps = 1
    while not (terminated or truncated):
        obs2, reward, terminated, truncated, info = env.step(action)
        steps += 1
    # Hover actions from a hover start never crash, so the TimeLimit ends the episode.
    if env_id != "DiffQuad-Landing-v0":
        assert truncated and steps == env.spec.max_episode_steps
