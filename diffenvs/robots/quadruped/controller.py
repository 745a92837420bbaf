"""The quadruped's classical controller: the trot reference played open loop (baseline and
``"classical"`` residual anchor)."""

from __future__ import annotations

from torch import Tensor

from .tasks import OBS_DIM

#: Where the observation holds the gait's reference joint offsets (see ``tasks``).
_REFERENCE = slice(OBS_DIM - 12, OBS_DIM)


class TrotReference:
    """PD targets at the gait's kinematic trot reference: ``action = reference / action_scale``
    (clipped to [-1, 1]), read from the observation. It trots in place without feedback;
    it neither balances actively nor walks (a residual policy adds that)."""

    def __init__(self, env):
        self.scale = env.unwrapped.robot.cfg.action_scale

    def __call__(self, obs) -> Tensor:
        state = obs["state"] if isinstance(obs, dict) else obs  # the perceptive task's Dict observation
        return (state[:, _REFERENCE] / self.scale).clamp(-1.0, 1.0)
