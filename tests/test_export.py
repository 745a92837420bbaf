"""Exported deployment policies (TorchScript) act exactly as the trainers' policies."""

from __future__ import annotations

import pytest
import torch

import diffenvs  # noqa: F401
from trainers import make_trainer
from trainers.cli import main
from trainers.export import load_exported

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(num_envs=4, total_steps=32, eval_every=0, eval_envs=2, progress=False, tensorboard=False)


def _trained(tmp_path, algo, env_id, **kw):
    extra = {"n_steps": 8, "batch_size": 32, "n_epochs": 1} if algo == "ppo" else {"horizon": 8}
    trainer = make_trainer(algo, env_id=env_id, log_dir=str(tmp_path / "run"), **TINY, **extra, **kw)
    trainer.learn()
    return trainer


def _same_actions(trainer, path, env_id, env_kwargs=None, n=5):
    """The exported file's actions equal the trainer's executed actions on fresh observations
    of another batch size (residual runs: anchor + residual)."""
    policy, meta = load_exported(path)
    assert meta["env_id"] == env_id and meta["env_steps"] == trainer.env_steps
    from trainers.core.loop import make_train_env

    env = make_train_env(trainer.cfg, num_envs=n)
    env.reset(seed=7)
    for _ in range(3):
        expected = trainer.policy(env.obs)
        if trainer.cfg.residual:
            expected = expected + env.obs["anchor_action"] if isinstance(env.obs, dict) else \
                expected + env.obs[:, -expected.shape[1]:]
        got = policy(env.unwrapped.obs)
        assert got.shape == (n, meta["action_dim"])
        torch.testing.assert_close(got, expected.clamp(-1, 1))
        env.step_differentiable(trainer.policy(env.obs).detach())


@pytest.mark.parametrize("algo", ["shac", "ppo"])
def test_exported_policy_acts_as_the_trained_one(algo, tmp_path):
    trainer = _trained(tmp_path, algo, "DiffQuad-Hover-v0")
    main(["export", str(tmp_path / "run" / "checkpoint.pt"), "--out", str(tmp_path / "policy.pt2")])
    _same_actions(trainer, str(tmp_path / "policy.pt2"), "DiffQuad-Hover-v0")


def test_exported_dict_observation_policy(tmp_path):
    """A depth-image policy takes the env's Dict observation as it is."""
    trainer = _trained(tmp_path, "shac", "DiffNav-PointMass-v0", env_kwargs={"max_episode_steps": 12})
    main(["export", str(tmp_path / "run" / "checkpoint.pt"), "--out", str(tmp_path / "policy.pt2")])
    _same_actions(trainer, str(tmp_path / "policy.pt2"), "DiffNav-PointMass-v0")


def test_exported_residual_policy_includes_its_anchor(tmp_path):
    trainer = _trained(tmp_path, "shac", "DiffQuadruped-Walk-v0", residual="quadruped-trot",
                       env_kwargs={"max_episode_steps": 10})
    main(["export", str(tmp_path / "run" / "checkpoint.pt"), "--out", str(tmp_path / "policy.pt2")])
    policy, meta = load_exported(str(tmp_path / "policy.pt2"))
    assert meta["residual"] == "quadruped-trot" and (tmp_path / "policy.pt2").stat().st_size < 2e6
    _same_actions(trainer, str(tmp_path / "policy.pt2"), "DiffQuadruped-Walk-v0")


def test_classical_anchor_is_not_exported(tmp_path):
    _trained(tmp_path, "shac", "DiffQuad-Hover-v0", residual="classical")
    with pytest.raises(ValueError, match="classical controller, which is code"):
        main(["export", str(tmp_path / "run" / "checkpoint.pt"), "--out", str(tmp_path / "policy.pt2")])
