"""trainers.ppo: SB3 PPO behind the trainers' interface (tiny, fast settings)."""

from __future__ import annotations

import csv
import dataclasses
import inspect
import os

import pytest
import torch

import diffenvs

pytest.importorskip("stable_baselines3")

from trainers import make_trainer  # noqa: E402
from trainers.core.logger import COLUMNS, read_log  # noqa: E402
from trainers.ppo import PPO, PPOConfig  # noqa: E402

TINY = dict(num_envs=4, n_steps=16, batch_size=32, n_epochs=1, eval_envs=2, eval_every=0, progress=False,
            tensorboard=False, env_kwargs={"max_episode_steps": 20})
STEPS_PER_ITER = 4 * 16


pytestmark = pytest.mark.usefixtures("one_thread")


def _trainer(tmp_path, name="run", **settings) -> PPO:
    cfg = PPOConfig(**{**TINY, "log_dir": str(tmp_path / name), "total_steps": 2 * STEPS_PER_ITER, **settings})
    return PPO(cfg)


def _params(trainer: PPO) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.policy.state_dict().items()}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _header(path: str) -> list[str]:
    with open(path, newline="") as fh:
        return next(csv.reader(fh))


def test_config_fields_documented():
    doc = inspect.getdoc(PPOConfig)
    own = [f.name for f in dataclasses.fields(PPOConfig)
           if f.name not in {g.name for g in dataclasses.fields(PPOConfig.__mro__[1])}]
    assert own, "PPOConfig adds no fields?"
    for name in own:
        assert f"{name}:" in doc, f"{name} is not documented in PPOConfig's docstring"
    cfg = PPOConfig()
    assert cfg.net_arch == {"pi": [192, 192, 96], "vf": [192, 192, 96]} and cfg.activation == "relu"
    assert (cfg.learning_rate, cfg.n_steps, cfg.batch_size, cfg.n_epochs) == (3e-4, 256, 25_600, 5)
    assert (cfg.gamma, cfg.gae_lambda, cfg.clip_range, cfg.weight_decay, cfg.log_std_init) == (0.99, 1.0, 0.2, 1e-5,
                                                                                               -0.5)


@pytest.mark.parametrize("env_id", sorted(diffenvs.ENV_IDS))
def test_two_iterations_every_env(tmp_path, env_id):
    trainer = _trainer(tmp_path, env_id=env_id)
    result = trainer.learn()
    assert trainer.env_steps == 2 * STEPS_PER_ITER and trainer.iteration == 2
    assert {"eval_return", "eval_success", "eval_metric"} <= result.keys()

    path = os.path.join(trainer.log_dir, "progress.csv")
    assert tuple(_header(path)) == COLUMNS
    rows = read_log(path)
    assert [r["iteration"] for r in rows] == [0, 1, 2]  # evaluation at step 0, then one row per update
    steps = [r["env_steps"] for r in rows]
    assert steps == [0, STEPS_PER_ITER, 2 * STEPS_PER_ITER] and steps == sorted(set(steps))
    last = rows[-1]
    for col in ("wall_time", "eval_return", "eval_metric", "actor_loss", "critic_loss", "entropy", "lr"):
        assert last[col] == last[col], col  # not NaN
    assert last["lr"] == pytest.approx(trainer.cfg.learning_rate)
    assert rows[1]["wall_time"] < rows[2]["wall_time"]
    assert os.path.exists(os.path.join(trainer.log_dir, "checkpoint.pt"))  # written at the end

    obs = trainer.env.obs
    action = trainer.policy(obs)
    assert action.shape == (4, trainer.act_dim) and action.dtype == obs.dtype and action.device == obs.device
    assert bool((action.abs() <= 1).all())


def test_policy_matches_sb3_predict(tmp_path):
    trainer = _trainer(tmp_path, total_steps=STEPS_PER_ITER)
    trainer.learn()
    obs = trainer.env.obs
    expected, _ = trainer.model.predict(trainer.venv.normalize_obs(obs.numpy()), deterministic=True)
    torch.testing.assert_close(trainer.policy(obs), torch.as_tensor(expected), rtol=0, atol=0)


def test_same_seed_same_parameters(tmp_path):
    a = _trainer(tmp_path, "a", seed=3)
    a.learn()
    b = _trainer(tmp_path, "b", seed=3)
    b.learn()
    _assert_same(_params(a), _params(b))
    c = _trainer(tmp_path, "c", seed=4, total_steps=STEPS_PER_ITER)
    assert not torch.equal(_params(c)["action_net.weight"], _params(a)["action_net.weight"])


def test_checkpoint_and_resume(tmp_path):
    trainer = _trainer(tmp_path, "ckpt", checkpoint_every=STEPS_PER_ITER)
    trainer.learn()
    path = os.path.join(trainer.log_dir, "checkpoint.pt")
    state = torch.load(path, weights_only=True)
    assert state["algo"] == "ppo" and state["env_steps"] == 2 * STEPS_PER_ITER and state["iteration"] == 2
    assert {"policy"} == state["modules"].keys() == state["optimizers"].keys()
    assert set(state["obs_rms"]) == {"mean", "var", "count"} and state["config"]["num_envs"] == 4

    restored = PPO.from_checkpoint(path)
    _assert_same(_params(trainer), _params(restored))
    assert restored.env_steps == trainer.env_steps and restored.iteration == trainer.iteration
    torch.testing.assert_close(restored.venv.obs_rms.mean, trainer.venv.obs_rms.mean, rtol=0, atol=0)
    torch.testing.assert_close(restored.env.get_state(), trainer.env.get_state(), rtol=0, atol=0)
    obs = trainer.env.obs
    torch.testing.assert_close(restored.policy(obs), trainer.policy(obs), rtol=0, atol=0)

    # Continue to a larger budget: the log is appended to, and the result is the same as
    # one uninterrupted run.
    resumed = PPO.from_checkpoint(path, total_steps=4 * STEPS_PER_ITER)
    resumed.learn(resume=True)
    assert resumed.env_steps == 4 * STEPS_PER_ITER and resumed.iteration == 4
    rows = read_log(os.path.join(trainer.log_dir, "progress.csv"))
    assert [r["env_steps"] for r in rows] == [0, 64, 128, 192, 256]
    assert [r["iteration"] for r in rows] == [0, 1, 2, 3, 4]
    assert rows[-1]["wall_time"] > rows[2]["wall_time"]

    straight = _trainer(tmp_path, "straight", total_steps=4 * STEPS_PER_ITER)
    straight.learn()
    _assert_same(_params(resumed), _params(straight))
    torch.testing.assert_close(resumed.env.get_state(), straight.env.get_state(), rtol=0, atol=0)


def test_make_trainer_paper_preset(tmp_path):
    tiny = {k: v for k, v in TINY.items() if k != "n_epochs"}  # keep the paper's 5 epochs
    trainer = make_trainer("ppo", env_id="DiffQuad-Hover-v0", preset="paper", **tiny, total_steps=STEPS_PER_ITER,
                           log_dir=str(tmp_path / "paper"))
    cfg = trainer.cfg
    assert isinstance(trainer, PPO) and trainer.algo == "ppo"
    assert (cfg.learning_rate, cfg.gae_lambda, cfg.n_epochs, cfg.weight_decay) == (0.001, 1.0, 5, 1e-5)
    assert trainer.model.learning_rate == 0.001 and trainer.model.n_epochs == 5
    assert trainer.model.policy.optimizer.param_groups[0]["weight_decay"] == 1e-5
    trainer.learn()
    assert trainer.env_steps == STEPS_PER_ITER


def test_default_log_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trainer = PPO(PPOConfig(**{**TINY, "seed": 7}))
    assert trainer.log_dir == os.path.join("runs", "ppo-DiffQuad-Hover-v0-s7")


def test_residual_classical(tmp_path):
    trainer = _trainer(tmp_path, "residual", residual="classical")
    assert trainer.obs_dim == 13 + 4 and trainer.venv.observation_space.shape == (17,)
    result = trainer.learn()
    assert result["eval_metric"] == result["eval_metric"]  # evaluated through the residual wrapper
    assert trainer.policy(trainer.env.obs).shape == (4, 4)
    restored = PPO.from_checkpoint(os.path.join(trainer.log_dir, "checkpoint.pt"))
    _assert_same(_params(trainer), _params(restored))
