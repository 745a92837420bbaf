"""Policy export for deployment: a small, self-contained ``torch.export`` program.

:func:`export_policy` turns a training checkpoint into an exported program
(:func:`torch.export.export`, saved with :func:`torch.export.save`) that maps
the env's observation (a batched tensor, or a dict of them for ``Dict`` observations,
exactly as ``env.obs``) to the env's action in ``[-1, 1]``, with everything the policy
needs inside: observation normalisation, the deterministic actor (the Gaussian's mean),
and for residual runs the frozen anchor and the sum ``anchor + residual``. It needs
neither diffenvs nor trainers to run::

    diffenvs-train export runs/shac-DiffQuad-Hover-v0-s0/checkpoint.pt --out hover_policy.pt2

    policy = torch.export.load("hover_policy.pt2").module()
    action = policy(obs)                      # (N, action_dim), any batch size N
    policy, meta = trainers.export.load_exported("hover_policy.pt2")   # with the metadata

The file's extra entry ``diffenvs.json`` records the env id, algorithm, env steps and the
observation layout. Checkpoints for resuming training stay separate (and larger).
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from torch import nn

from diffenvs.fileio import atomic_path

from .core.checkpoint import load_checkpoint
from .core.loop import algorithm_class, make_train_env

#: The name of the metadata entry in an exported file.
META = "diffenvs.json"


class _Deployed(nn.Module):
    """``obs -> action`` of a trained policy (residual runs: anchor + residual)."""

    def __init__(self, trainer, env):
        super().__init__()
        self.trainer, self.env = trainer, env
        self.residual = bool(trainer.cfg.residual)
        self.nets = nn.ModuleDict(trainer.modules())  # the networks' parameters belong to the exported program

    def forward(self, obs: Any) -> torch.Tensor:
        if self.residual:
            augmented, anchor_action = self.env.observation(obs)
            return self.env.action(self.trainer.policy(augmented), anchor_action).clamp(-1.0, 1.0)
        return self.trainer.policy(obs).clamp(-1.0, 1.0)


def _layout(space) -> list[dict[str, Any]]:
    import gymnasium as gym

    if isinstance(space, gym.spaces.Dict):
        return [{"key": k, "shape": list(s.shape)} for k, s in space.spaces.items()]
    return [{"key": None, "shape": list(space.shape)}]


def export_policy(checkpoint: str, out: str) -> dict[str, Any]:
    """Write the deployment policy of ``checkpoint`` to ``out`` (TorchScript); returns its metadata.

    Classical-controller anchors are not exported (they are code, not networks): export a
    residual run only over a saved-policy anchor.
    """
    state = load_checkpoint(checkpoint)
    trainer = algorithm_class(state["algo"]).from_checkpoint(checkpoint, progress=False, tensorboard=False)
    if trainer.cfg.residual == "classical":
        raise ValueError(f"{checkpoint!r} is a residual over the classical controller, which is code and is not "
                         f"exported; deploy the controller and the residual policy together")
    env = make_train_env(trainer.cfg, num_envs=2)
    env.reset(seed=0)
    base = env.unwrapped
    example = base.obs
    deployed = _Deployed(trainer, env).eval()
    batch = torch.export.Dim.DYNAMIC
    shapes = {k: {0: batch} for k in example} if isinstance(example, dict) else {0: batch}
    validate = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)  # value checks are data-dependent branches
    try:
        with torch.no_grad():
            program = torch.export.export(deployed, (example,), dynamic_shapes=(shapes,))
    finally:
        torch.distributions.Distribution.set_default_validate_args(validate)
    meta = {"env_id": trainer.cfg.env_id, "algo": state["algo"], "env_steps": int(state["env_steps"]),
            "residual": trainer.cfg.residual, "observation": _layout(base.single_observation_space),
            "action_dim": int(base.single_action_space.shape[0]), "dtype": str(base.dtype).removeprefix("torch."),
            "checkpoint": os.path.abspath(checkpoint)}
    with atomic_path(out, suffix=".pt2") as tmp:
        torch.export.save(program, tmp, extra_files={META: json.dumps(meta)})
    return meta


def load_exported(path: str) -> tuple[nn.Module, dict[str, Any]]:
    """``(policy, metadata)`` of an exported file (``policy(obs) -> action``)."""
    extra = {META: ""}
    program = torch.export.load(path, extra_files=extra)
    return program.module(), json.loads(extra[META])
