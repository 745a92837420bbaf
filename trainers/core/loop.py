"""What every trainer (the first-order ones and PPO) shares around its updates: the env it
trains on, evaluation, the log / evaluation / checkpoint schedule, and checkpoint files.

A trainer's ``learn`` is::

    loop = begin_learning(self, resume)
    try:
        while ...:                       # one rollout + update per iteration
            ...
            end_iteration(self, loop, row)
    finally:
        loop.close()
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym

import diffenvs  # noqa: F401  (registers the ids)
from diffenvs.registry import classical_controller
from diffenvs.wrappers.flatten import obs_layout
from diffenvs.wrappers.residual import ResidualEnv

from ..anchors import resolve_anchor
from .checkpoint import load_checkpoint, next_multiple, save_checkpoint
from .config import TrainConfig, apply_overrides, config_from_dict
from .evaluate import evaluate, main_metric
from .logger import Logger
from .summary import eval_figures, planned_steps


def make_train_env(cfg: TrainConfig, num_envs: int | None = None):
    """The batched env of a config: ``gym.make_vec`` plus the residual wrapper if asked for
    (anchor ``"classical"``: the robot's controller; a named anchor of
    :data:`trainers.anchors.ANCHORS`; otherwise a checkpoint, loaded through the algorithm
    registry by :func:`trainers.load_policy`)."""
    kwargs = dict(cfg.env_kwargs)
    kwargs.setdefault("device", cfg.device)
    if cfg.compile:
        kwargs["compile"] = True
    env = gym.make_vec(cfg.env_id, num_envs=num_envs or cfg.num_envs, **kwargs)
    if cfg.residual:
        anchor = classical_controller(env) if cfg.residual == "classical" else load_policy(cfg.residual, env)
        env = ResidualEnv(env, anchor)
    return env


#: Algorithm name -> ``"module:Class"`` of its trainer (the algorithm registry; the
#: modules are imported on first use, so the algorithms depend on this module, not back).
ALGORITHMS = {
    "bptt": "trainers.bptt:BPTT",
    "shac": "trainers.shac:SHAC",
    "abpt": "trainers.abpt:ABPT",
    "ppo": "trainers.ppo:PPO",
}


def algorithm_class(algo: str):
    """The trainer class of an algorithm name (from :data:`ALGORITHMS`)."""
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}; choose one of {sorted(ALGORITHMS)}")
    module, _, name = ALGORITHMS[algo].partition(":")
    return getattr(importlib.import_module(module), name)


def load_policy(path: str, env=None):
    """The frozen deterministic policy of any trainer's checkpoint, ``policy(obs) -> action``.

    The checkpoint's ``algo`` picks the trainer class from :data:`ALGORITHMS`, whose
    ``load_policy`` rebuilds the networks; ``env`` (optional) is checked against the
    policy's observation and action shapes. A residual policy is refused: alone, without
    its anchor, it is not a policy. ``path`` may name an anchor shipped with the package
    (:data:`trainers.anchors.ANCHORS`). Used for residual anchors and deployment.
    """
    path = resolve_anchor(path)
    state = load_checkpoint(path)
    if state["config"].get("residual"):
        raise ValueError(f"checkpoint {path!r} is itself a residual policy (it needs its anchor); "
                         f"use a plain policy as the anchor")
    return algorithm_class(state["algo"]).load_policy(state, env, source=path)


def policy_obs_layout(env, obs_dim: int, source: str):
    """``(flatten, image)`` of the env a saved policy with ``obs_dim`` inputs runs in (see
    :func:`diffenvs.wrappers.flatten.obs_layout`; identity and no image without an env),
    checking that the env gives as many observation values. A policy of the ``"state"``
    entry alone of a ``Dict`` observation (e.g. a blind locomotion policy, the anchor of a
    perceptive task whose observation adds a depth image) reads that entry."""
    if env is None:
        return (lambda obs: obs), None
    space = env.single_observation_space
    env_obs_dim, flatten, image = obs_layout(space)
    if env_obs_dim != obs_dim:
        state = space.spaces.get("state") if isinstance(space, gym.spaces.Dict) else None
        if state is not None and len(state.shape) == 1 and state.shape[0] == obs_dim:
            return (lambda obs: obs["state"]), None
        raise ValueError(f"policy {source!r} takes {obs_dim} observation values but the env gives {env_obs_dim}; "
                         f"use a policy trained on this env")
    return flatten, image


def default_log_dir(algo: str, cfg: TrainConfig) -> str:
    """``cfg.log_dir``, or ``runs/<algo>-<env_id>-s<seed>``."""
    return cfg.log_dir or os.path.join("runs", f"{algo}-{cfg.env_id}-s{cfg.seed}")


class TrainerBase:
    """Evaluation, the schedule and checkpoint files, for trainers that define ``algo``,
    ``Config``, ``cfg``, ``policy``, ``env_steps`` and ``state_dict``/``load_state_dict``."""

    algo: ClassVar[str]
    Config: ClassVar[type[TrainConfig]] = TrainConfig

    def _init_loop(self) -> None:
        self.iteration = 0
        self.wall_time = 0.0
        self._eval_env = None
        self.log_dir = default_log_dir(self.algo, self.cfg)

    def evaluate(self) -> dict[str, float]:
        """Evaluate the deterministic policy (:func:`trainers.core.evaluate.evaluate`)."""
        if self._eval_env is None:
            self._eval_env = make_train_env(self.cfg, num_envs=self.cfg.eval_envs)
        return evaluate(self.policy, self._eval_env, seed=self.cfg.seed + 10_000)

    def _next_multiple(self, every: int) -> int:
        return next_multiple(self.env_steps, every)

    def save(self, path: str) -> str:
        """Write an atomic, ``weights_only``-loadable checkpoint."""
        return save_checkpoint(path, self.state_dict())

    @classmethod
    def from_checkpoint(cls, path: str, **overrides):
        """Rebuild a trainer (same config, optionally overridden) and restore its state;
        ``learn(resume=True)`` then continues to the (new) ``total_steps``."""
        state = load_checkpoint(path)
        cfg = apply_overrides(config_from_dict(cls.Config, state["config"]), overrides)
        trainer = cls(cfg)
        trainer.load_state_dict(state)
        return trainer


@dataclass
class LoopState:
    """The logger, progress bar (or ``None``), last evaluation and next scheduled steps."""

    logger: Logger
    bar: Any
    last_eval: dict[str, float]
    next_eval: int
    next_ckpt: int

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.logger.close()


def previous_run(log_dir: str) -> list[str]:
    """The files of an earlier run in ``log_dir`` (its log, checkpoint and TensorBoard
    events), which a fresh run there would overwrite or mix with."""
    if not os.path.isdir(log_dir):
        return []
    return sorted(f for f in os.listdir(log_dir)
                  if f in ("progress.csv", "checkpoint.pt", "summary.json") or f.startswith("events.out.tfevents."))


def begin_learning(trainer, resume: bool) -> LoopState:
    """What every trainer's ``learn`` starts with: the logger, the progress bar, the
    schedule, and an evaluation logged at step 0 for a fresh run (``{}`` when resuming).
    A fresh run never silently replaces an earlier run's files (``cfg.overwrite``)."""
    cfg = trainer.cfg
    if not resume:
        earlier = previous_run(trainer.log_dir)
        if earlier and not cfg.overwrite:
            raise FileExistsError(
                f"{trainer.log_dir} holds a previous run ({', '.join(earlier[:3])}); continue it with --resume "
                f"(learn(resume=True)), replace it with --overwrite (overwrite=True), or choose another --log-dir")
        for f in earlier:
            os.remove(os.path.join(trainer.log_dir, f))
    logger = Logger(trainer.log_dir, tensorboard=cfg.tensorboard, resume=resume, resume_steps=trainer.env_steps,
                    metric=main_metric(cfg.env_id)[0])
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm

        # The bar's total is what the run will actually take: whole iterations.
        total = planned_steps(trainer.env_steps, cfg.total_steps, trainer.steps_per_iteration)
        bar = tqdm(total=total, initial=trainer.env_steps, unit="step", unit_scale=True,
                   desc=f"{trainer.algo} {cfg.env_id}", dynamic_ncols=True)
    last_eval = trainer.evaluate() if trainer.env_steps == 0 else {}
    if last_eval:
        logger.log({"iteration": 0, "env_steps": 0, "wall_time": 0.0, **eval_columns(last_eval)})
        if bar is not None:
            bar.set_postfix(eval_figures(last_eval, cfg.env_id), refresh=False)
    return LoopState(logger, bar, last_eval, trainer._next_multiple(cfg.eval_every),
                     trainer._next_multiple(cfg.checkpoint_every))


def end_iteration(trainer, loop: LoopState, row: dict[str, Any]) -> None:
    """After an iteration: evaluate when due (always at the end), log ``row``, write the
    checkpoint when due (always at the end), and move the progress bar."""
    cfg = trainer.cfg
    done = trainer.env_steps >= cfg.total_steps
    if done or (loop.next_eval and trainer.env_steps >= loop.next_eval):
        loop.last_eval = trainer.evaluate()
        row.update(eval_columns(loop.last_eval))
        loop.next_eval = trainer._next_multiple(cfg.eval_every)
    loop.logger.log(row)
    if done or (loop.next_ckpt and trainer.env_steps >= loop.next_ckpt):
        trainer.save(os.path.join(trainer.log_dir, "checkpoint.pt"))
        loop.next_ckpt = trainer._next_multiple(cfg.checkpoint_every)
    if loop.bar is not None:
        loop.bar.update(trainer.env_steps - loop.bar.n)
        loop.bar.set_postfix(eval_figures(loop.last_eval, cfg.env_id), refresh=False)


def eval_columns(result: dict[str, float]) -> dict[str, float]:
    """The evaluation results that go into the log."""
    return {k: result[k] for k in ("eval_return", "eval_success", "eval_metric") if k in result}
