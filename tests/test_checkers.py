"""The quadrotor single env: Python types and the registered time limit.

(Gymnasium's and stable-baselines3's env checkers run on every registered id in the
contract suite, tests/contract.)"""

import gymnasium as gym
import numpy as np
import pytest

import diffenvs
from diffenvs.contract import reward_terms

IDS = list(diffenvs.ENV_IDS)


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
