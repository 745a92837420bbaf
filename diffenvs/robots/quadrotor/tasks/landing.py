"""Landing: descend onto a pad and touch down slowly (partially differentiable reward)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ....consts import const, const_like
from ....contract import Marker
from .base import POS_SCALE, VEL_SCALE, QuadrotorTask, RewardTerm, TaskConfig, TaskStep, norm, state_features, uniform


@dataclass(frozen=True)
class LandingConfig(TaskConfig):
    """Landing options.

    The two shaping terms use exponential maps with base ``eta`` (the authors' f⁺):

    * ``horizontal = w_xy (eta^(1 - d/d_s) - 1) / (eta - 1)`` with ``d = |p_xy - p̂_xy|``
      and a tolerance ``d_s = xy_scale * clip(z, z_min, z_max)`` that shrinks near the
      ground;
    * ``descent = w_z (eta^u - 1) / (eta - 1)``, with ``s = -v_z`` the descent speed,
      ``v_l = clip(z, z_min, z_max)`` the target speed, ``u = s / v_l`` when
      ``s <= v_l`` and ``u = 5 - 4 s / v_l`` above it (peak at ``s = v_l``).

    ``d_s`` and ``v_l`` are references and carry no gradient.

    Attributes:
        pad: landing pad centre p̂, m (world, on the ground).
        spawn_center: centre of the spawn box, m.
        spawn_half_extent: episodes start uniformly in ``spawn_center ± this``, at rest, m.
        eta: base of the exponential shaping.
        w_xy: weight of the horizontal term.
        w_z: weight of the descent term.
        xy_scale: horizontal tolerance per metre of height.
        z_min: lower clip of the height used by the references, m.
        z_max: upper clip of the height used by the references, m.
        success_height: touch-down height, m: success needs ``z <= success_height``,
        success_xy: horizontal error below this, m, and
        success_speed: speed at most this, m/s.
        success_reward: bonus on success (non-differentiable); the episode ends.
        failure_reward: reward when the drone crashes or leaves the arena (non-differentiable).
    """

    pad: tuple[float, float, float] = (2.0, 0.0, 0.0)
    spawn_center: tuple[float, float, float] = (2.0, 0.0, 2.5)
    spawn_half_extent: tuple[float, float, float] = (1.0, 1.0, 1.0)
    eta: float = 1.2
    w_xy: float = 0.1
    w_z: float = 0.1
    xy_scale: float = 2.0
    z_min: float = 0.05
    z_max: float = 1.0
    success_height: float = 0.2
    success_xy: float = 0.3
    success_speed: float = 0.3
    success_reward: float = 20.0
    failure_reward: float = -0.1


class LandingTask(QuadrotorTask):
    name = "landing"
    label = "Landing"
    Config = LandingConfig
    default_episode_steps = 256
    obs_dim = 13
    main_metric = ("xy_error", True)
    reward_terms = (
        RewardTerm("horizontal", True, "exponential shaping of the horizontal distance to the pad"),
        RewardTerm("descent", True, "exponential shaping of the descent speed vs a height-dependent target"),
        RewardTerm("success", False, "+20 on touch-down (z <= 0.2, xy error < 0.3, |v| <= 0.3); ends the episode"),
        RewardTerm("failure", False, "-0.1 when the drone hits the ground, leaves the arena or diverges"),
    )
    metric_names = ("success", "xy_error", "height")
    metric_units = {"success": "%", "xy_error": "m", "height": "m"}

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        c = self.cfg
        self.pad = self.tensor(c.pad)
        center, half = self.tensor(c.spawn_center), self.tensor(c.spawn_half_extent)
        self.spawn_low, self.spawn_high = center - half, center + half
        self.log_eta = float(torch.log(torch.tensor(c.eta, dtype=torch.float64)))
        self.eta_norm = 1.0 / (c.eta - 1.0)

    def sample_initial(self, n, gen):
        pos = uniform(gen, n, self.spawn_low, self.spawn_high)
        return self.at_rest(pos)

    def observe(self, s):
        return torch.cat([(self.pad - s["pos"]) * const(POS_SCALE, s["pos"]), *state_features(s)], dim=-1)

    def native_transition(self, env):
        if type(self) is not LandingTask:  # a subclass may change what the kernel restates
            return None
        from .native_hover import make

        return make(env)

    def markers(self):
        half = max(float(self.cfg.success_xy), 0.25)
        return (Marker("pad", self.pad.detach().cpu().double().numpy().reshape(1, 3), half, "pad"),)

    def _shape(self, u: Tensor, weight: float) -> Tensor:
        return const(weight * self.eta_norm, u) * (torch.exp(const(self.log_eta, u) * u) - const(1.0, u))

    def evaluate(self, s, failed):
        c = self.cfg
        pos, vel = s["pos"], s["vel"]

        k = const_like(pos)  # the constants as tensors of its dtype: no per-call dtype copies

        height = (pos[:, 2] - self.pad[2]).detach()
        ref = height.clamp(c.z_min, c.z_max)  # target descent speed v_l and tolerance scale
        d_xy = norm(pos[:, :2] - self.pad[:2])
        descent = -vel[:, 2]
        ratio = descent / ref
        u = torch.where(descent <= ref, ratio, k(5.0) - k(4.0) * ratio)
        success = (height <= k(c.success_height)) & (d_xy.detach() < k(c.success_xy)) & (
            norm(vel.detach()) <= k(c.success_speed)) & ~failed
        terms = {
            "horizontal": self._shape(k(1.0) - d_xy / (k(c.xy_scale) * ref), c.w_xy),
            "descent": self._shape(u, c.w_z),
            "success": success.to(pos.dtype) * k(c.success_reward),
            "failure": failed.to(pos.dtype) * k(c.failure_reward),
        }
        metrics = {"success": success, "xy_error": d_xy.detach(), "height": height}
        return TaskStep(terms, {}, success, metrics)

    def setpoint(self, obs: Tensor):
        c = self.cfg
        rel = obs[:, 0:3] / POS_SCALE  # pad - p
        height = -rel[:, 2]
        vel = obs[:, 7:10] / VEL_SCALE
        xy_err = norm(rel[:, :2])
        # Hold 0.3 m above the pad until centred, then sink at 0.6 of the target speed.
        centred = (xy_err < 0.5 * c.success_xy) & (norm(vel[:, :2]) < 0.2)
        hover_alt = torch.where(centred, torch.zeros_like(height), torch.full_like(height, 0.3))
        pos_error = torch.cat([rel[:, :2], (hover_alt - height).unsqueeze(-1)], dim=-1)
        sink = -0.6 * height.clamp(c.z_min, c.z_max).clamp_min(0.15)
        vz = torch.where(centred | (height > 0.35), sink, torch.zeros_like(sink))
        vel_ref = torch.cat([torch.zeros_like(rel[:, :2]), vz.unsqueeze(-1)], dim=-1)
        pos_error = torch.cat([pos_error[:, :2], torch.where(centred, torch.zeros_like(height),
                                                             pos_error[:, 2]).unsqueeze(-1)], dim=-1)
        zeros = torch.zeros_like(rel)
        return pos_error, vel_ref, zeros, zeros
