"""Policies for image observations (the navigation env's depth + state ``Dict``): the
single dense layer, the MLP and the Nature CNN, for BPTT, SHAC, ABPT and PPO alike."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from diffenvs.wrappers.flatten import FlattenObsEnv, ImageSlice, obs_layout
from trainers import load_policy, make_trainer
from trainers.core.networks import Actor, NatureCNN, NetConfig

NAV = "DiffNav-PointMass-v0"
ALGOS = ["bptt", "shac", "abpt", "ppo"]


def settings(tmp_path, algo, encoder, image=(12, 16)):
    env_kwargs = {"max_episode_steps": 12, "task_options": {"image_height": image[0], "image_width": image[1]}}
    common = dict(num_envs=4, total_steps=64, eval_every=0, eval_envs=2, log_dir=str(tmp_path), progress=False,
                  tensorboard=False, env_kwargs=env_kwargs)
    if algo == "ppo":
        return {**common, "n_steps": 8, "batch_size": 32, "n_epochs": 1, "encoder": encoder}
    extra = {"critic_updates": 2} if algo in ("shac", "abpt") else {}
    if algo == "abpt":
        extra["replay_size"] = 1000
    return {**common, "horizon": 8, "net": NetConfig(encoder=encoder), **extra}


pytestmark = pytest.mark.usefixtures("one_thread")


def test_layout_of_a_dict_observation():
    space = gym.spaces.Dict({"depth": gym.spaces.Box(0, 1, (12, 16)), "state": gym.spaces.Box(-1, 1, (3,))})
    dim, flatten, image = obs_layout(space)
    assert dim == 195 and image == ImageSlice(0, (1, 12, 16))
    obs = {"depth": torch.arange(2 * 192.0).reshape(2, 12, 16), "state": -torch.ones(2, 3)}
    flat = flatten(obs)
    assert flat.shape == (2, 195) and torch.equal(flat[:, :192].reshape(2, 12, 16), obs["depth"])
    assert obs_layout(gym.spaces.Box(-1, 1, (4,)))[2] is None


def test_linear_actor_is_one_dense_layer_and_the_cnn_sees_the_image():
    linear = Actor(195, 2, NetConfig(encoder="linear"))
    assert sum(p.numel() for p in linear.parameters()) == 2 * (195 * 2 + 2)  # mean and log-std layers
    cnn = Actor(84 * 84 + 3, 2, NetConfig(encoder="nature_cnn"), ImageSlice(0, (1, 84, 84)))
    assert isinstance(cnn.features.cnn, NatureCNN)
    x = torch.zeros(5, 84 * 84 + 3)
    a0 = cnn.act(x)
    x[:, 100] = 5.0  # a pixel changes the action: the image reaches the policy
    assert not torch.allclose(cnn.act(x), a0)
    with pytest.raises(ValueError, match="at least 36x36"):
        Actor(195, 2, NetConfig(encoder="nature_cnn"), ImageSlice(0, (1, 12, 16)))
    with pytest.raises(ValueError, match="needs an observation with an image"):
        Actor(4, 2, NetConfig(encoder="nature_cnn"))
    with pytest.raises(ValueError, match="unknown encoder"):
        NetConfig(encoder="resnet")


def test_state_independent_std_is_one_learned_value_per_action():
    actor = Actor(195, 2, NetConfig(encoder="linear", state_std=False, init_log_std=-0.7))
    assert sum(p.numel() for p in actor.parameters()) == 195 * 2 + 2 + 2  # the mean layer and two log-stds
    x = torch.randn(7, 195)
    mu, log_std = actor.distribution(x)
    assert mu.shape == log_std.shape == (7, 2)
    torch.testing.assert_close(log_std, torch.full((7, 2), -0.7))
    a, _ = actor(x)
    a.sum().backward()  # the sampled action's gradient reaches the std parameter
    assert actor.log_std.bias.grad is not None and actor.log_std.bias.grad.abs().sum() > 0


def test_a_state_independent_std_policy_saves_and_loads(tmp_path):
    cfg = settings(tmp_path, "shac", "linear")
    cfg["net"] = NetConfig(encoder="linear", state_std=False)
    trainer = make_trainer("shac", env_id=NAV, **cfg)
    trainer.learn()
    env = gym.make_vec(NAV, num_envs=3, **cfg["env_kwargs"])
    env.reset(seed=0)
    policy = load_policy(str(tmp_path / "checkpoint.pt"), env)
    assert policy(env.obs).shape == (3, 2)


def test_fusion_actor_is_the_papers_perceptive_policy():
    """Residual paper Fig. 2: the non-image inputs through [128, 64], concatenated with the
    flat 16x12 image, one 128-unit layer, the outputs: parameters counted by hand."""
    actor = Actor(195, 2, NetConfig(encoder="fusion", hidden=(128, 64), feature_dim=128, state_std=False),
                  ImageSlice(0, (1, 12, 16)))
    by_hand = (3 * 128 + 128) + (128 * 64 + 64) + ((64 + 192) * 128 + 128) + (128 * 2 + 2) + 2
    assert sum(p.numel() for p in actor.parameters()) == by_hand
    x = torch.zeros(5, 195)
    a0 = actor.act(x)
    for index in (100, 193):  # a pixel, then a state value: both reach the action
        y = x.clone()
        y[:, index] = 5.0
        assert not torch.allclose(actor.act(y), a0)
    with pytest.raises(ValueError, match="needs an observation with an image"):
        Actor(4, 2, NetConfig(encoder="fusion"))


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("encoder", ["linear", "mlp", "fusion"])
def test_every_algorithm_trains_a_policy_on_depth(algo, encoder, tmp_path):
    trainer = make_trainer(algo, env_id=NAV, **settings(tmp_path, algo, encoder))
    trainer.learn()
    assert trainer.env_steps >= 64
    policy = load_policy(str(tmp_path / "checkpoint.pt"), trainer.env.unwrapped)
    base = trainer.env.unwrapped
    action = policy(base.obs)
    assert action.shape == (4, 2) and bool((action.abs() <= 1).all())
    torch.testing.assert_close(action, trainer.policy(base.obs))


@pytest.mark.parametrize("algo", ["shac", "ppo"])
def test_nature_cnn_on_84x84_depth(algo, tmp_path):
    trainer = make_trainer(algo, env_id=NAV, **settings(tmp_path, algo, "nature_cnn", image=(84, 84)))
    trainer.learn()
    policy = load_policy(str(tmp_path / "checkpoint.pt"), trainer.env.unwrapped)
    torch.testing.assert_close(policy(trainer.env.unwrapped.obs), trainer.policy(trainer.env.unwrapped.obs))


def test_flatten_wrapper_keeps_the_gradient():
    env = FlattenObsEnv(gym.make_vec(NAV, num_envs=3, dtype=torch.float64, task_options={"nose_length": 0.5}))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 195) and env.single_observation_space.shape == (195,)
    a = torch.zeros(3, 2, dtype=torch.float64, requires_grad=True)
    flat, reward, _, _, info = env.step_differentiable(a)
    assert flat.shape == (3, 195) and info["final_obs"].shape == (3, 195)
    (grad,) = torch.autograd.grad(reward.sum() + flat[:, -3:].sum(), a)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    _, _, _, _, info = env.step(np.zeros((3, 2), np.float32))
    assert info["final_obs"].shape == (3, 195)


def test_wrappers_stack_flattening_a_residual_dict_env():
    """FlattenObsEnv(ResidualEnv(nav)) -- what PPO-RPL trains on for a Dict observation: the
    flat vector holds the anchor's action, and a step executes anchor + residual (the same
    transition as stepping the bare env with that sum)."""
    from diffenvs.registry import classical_controller
    from diffenvs.wrappers.residual import ResidualEnv

    def make():
        env = gym.make_vec(NAV, num_envs=3, dtype=torch.float64).unwrapped
        env.reset(seed=4)
        return env

    bare, base = make(), make()
    anchor = classical_controller(base)
    flat = FlattenObsEnv(ResidualEnv(base, anchor))
    assert flat.single_observation_space.shape == (2 + 192 + 3,)  # anchor action, depth, state
    residual = torch.full((3, 2), 0.1, dtype=torch.float64)
    for _ in range(3):
        a = anchor(bare.obs)
        torch.testing.assert_close(flat.obs[:, :2], a)
        obs, reward, *_ = flat.step_differentiable(residual)
        _, bare_reward, *_ = bare.step_differentiable((a + residual).clamp(-1, 1))
        torch.testing.assert_close(reward, bare_reward)
        torch.testing.assert_close(obs[:, 2:], FlattenObsEnv(bare).obs)
