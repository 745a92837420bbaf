"""Quadruped tasks (residual paper §III, §V-A): a trot-in-place imitation task for the anchor
policy and a forward-velocity locomotion task; one observation layout for both, so that
a policy trained on one runs on the other.

Observation (flat, 68 values, float32; velocities in the base frame):

===========  =====  ===========================================================
slice        size   content
===========  =====  ===========================================================
0:3          3      base linear velocity, m/s
3:6          3      base angular velocity, rad/s
6:9          3      gravity direction (unit), base frame ("projected gravity")
9:12         3      command (forward, lateral speed m/s; yaw rate rad/s)
12:24        12     joint angles minus the nominal pose, rad
24:36        12     joint rates x 0.1, rad/s
36:48        12     last action
48:56        8      gait clock: (sin, cos) of 2π x each foot's phase
56:68        12     the gait's reference joint offsets from the nominal pose, rad
===========  =====  ===========================================================

The gait (:class:`Trot`): diagonal pairs (LF+RH, RF+LH) half a cycle apart at
``frequency`` Hz; each foot is in stance for the first half of its cycle and swings in
the second, where the reference bends its hip and knee by a sine bump (lifting the foot
about ``foot_height``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from ...articulated import kinematics
from ...consts import const, const_like
from ...contract import RewardTerm, State, StateField, Task, TaskStep
from ...rotations import quat_rotate_inverse

OBS_DIM = 68

#: Foot order (the model's) and each foot's phase offset in a trot.
FEET = ("LF", "RF", "LH", "RH")
TROT_OFFSETS = (0.0, 0.5, 0.5, 0.0)


@dataclass(frozen=True)
class Trot:
    """A kinematic trot reference.

    Attributes:
        frequency: gait cycles per second (each foot touches down this often), Hz.
        hip_swing, knee_swing: peak extra flexion of the hip (HFE) and knee (KFE) in swing,
            rad, in the direction the nominal pose already bends them.
        foot_height: peak height of a swinging foot above its stance height, m.
    """

    frequency: float = 2.0
    hip_swing: float = 0.25
    knee_swing: float = 0.5
    foot_height: float = 0.08


def _shared_terms() -> tuple[RewardTerm, ...]:
    return (
        RewardTerm("orientation", True, "-k_orientation |g_xy|^2 (g: gravity direction in the base frame)"),
        RewardTerm("base_height", True, "-k_height (z - base_height)^2"),
        RewardTerm("vertical_velocity", True, "-k_vz v_z^2"),
        RewardTerm("torque", True, "-k_torque |tau|^2 (the PD torques of the last action)"),
        RewardTerm("joint_velocity", True, "-k_joint_vel |qdot|^2"),
        RewardTerm("foot_height", True, "-k_foot_height sum_f (z_f - r - h_ref_f)^2 (h_ref: the gait's swing height)"),
        RewardTerm("alive", False, "+alive per step"),
    )


@dataclass(frozen=True)
class QuadrupedTaskConfig:
    """Options shared by the quadruped tasks.

    Attributes:
        gait: the trot reference (:class:`Trot`).
        base_height: target base height, m (standing under the default PD: about 0.52).
        min_base_height: a base below this ends the episode (fallen), m.
        max_tilt: a base tilted more than this from upright ends the episode (flipped), rad.
        max_base_height: a base above this ends the episode (thrown), m.
        arena_half_extent: a base farther than this from the origin in x or y ends the
            episode, m (float32 keeps millimetres there).
        init_noise: joint angles start at the nominal pose plus uniform noise of this size, rad.
        k_*: reward weights (see the task's ``reward_terms``); alive: bonus per step.
    """

    gait: Trot = Trot()
    base_height: float = 0.52
    min_base_height: float = 0.3
    max_tilt: float = 1.0
    max_base_height: float = 3.0
    arena_half_extent: float = 1000.0
    init_noise: float = 0.05
    k_orientation: float = 5.0
    k_height: float = 50.0
    k_vz: float = 0.5
    k_torque: float = 2e-5
    k_joint_vel: float = 1e-3
    k_foot_height: float = 20.0
    alive: float = 1.0


class _QuadrupedTask(Task):
    """What the trot and walk tasks share: the observation, the gait clock, the terms that
    keep the robot up, the terminations."""

    robot = "quadruped"
    default_episode_steps = 1000
    metric_names = ("upright", "velocity_error", "distance")
    metric_units = {"upright": "%", "velocity_error": "m/s", "distance": "m"}
    main_metric = ("velocity_error", True)
    view = {"azimuth": -60.0, "elevation": 25.0}

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        robot = self.robot_model
        nominal = robot.nominal
        bend = torch.zeros(12, dtype=self.dtype, device=self.device)
        bend[1::3] = self.cfg.gait.hip_swing * torch.sign(nominal[1::3])
        bend[2::3] = self.cfg.gait.knee_swing * torch.sign(nominal[2::3])
        self.swing_bend = bend.view(4, 3)
        self.offsets = self.tensor(TROT_OFFSETS)
        self.down = self.tensor([0.0, 0.0, -1.0])
        self.foot_radius = robot.mt.foot_radius
        self.state_fields = {
            "phase0": StateField((), "float", "gait phase at the episode start, cycles"),
            "command": StateField((3,), "float", "commanded forward and lateral speed (m/s) and yaw rate (rad/s)"),
            "start_xy": StateField((2,), "float", "base position at the episode start, m"),
            "velocity_error_sum": StateField((), "float", "sum over the episode of |v_xy - command|, m/s"),
        }

    @property
    def observation_space(self) -> gym.Space:
        return gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)

    # ------------------------------------------------------------------ gait
    def phases(self, state: State, step_offset: int = 0) -> Tensor:
        """``(N, 4)`` each foot's gait phase in [0, 1) at the state's step (+ ``step_offset``)."""
        phase0 = state["phase0"]
        t = (state["step"].to(self.dtype) + const(float(step_offset), phase0)) * const(self.dt, phase0)
        return torch.remainder(phase0.unsqueeze(-1) + const(self.cfg.gait.frequency, t) * t.unsqueeze(-1)
                               + self.offsets, const(1.0, t))

    def swing(self, phase: Tensor) -> Tensor:
        """``(N, 4)`` swing bump in [0, 1]: 0 in stance (phase < 0.5), a sine in swing."""
        return torch.relu(torch.sin(const(2.0 * math.pi, phase) * (phase - const(0.5, phase))))

    def reference(self, phase: Tensor) -> Tensor:
        """``(N, 12)`` the gait's joint offsets from the nominal pose, rad."""
        return (self.swing(phase).unsqueeze(-1) * self.swing_bend).reshape(phase.shape[0], 12)

    # ------------------------------------------------------------------ episodes
    def sample_command(self, n: int, gen: torch.Generator) -> Tensor:
        return torch.zeros(n, 3, dtype=self.dtype, device=self.device)

    def sample_initial(self, n: int, gen: torch.Generator) -> State:
        robot = self.robot_model
        state = robot.at_rest(n)
        u = torch.rand(n, 13, generator=gen, dtype=self.dtype, device=self.device)
        state["joint_pos"] = state["joint_pos"] + self.cfg.init_noise * (2.0 * u[:, :12] - 1.0)
        return {**state, "phase0": u[:, 12], "command": self.sample_command(n, gen),
                "start_xy": state["base_pos"][:, :2].clone(), "velocity_error_sum": torch.zeros(n, **self._f)}

    @property
    def _f(self) -> dict:
        return {"dtype": self.dtype, "device": self.device}

    # ------------------------------------------------------------------ observation
    def gravity(self, quat: Tensor) -> Tensor:
        """``(N, 3)`` the gravity direction (unit) in the base frame of attitudes ``quat``."""
        return quat_rotate_inverse(quat, self.down.expand(quat.shape[0], 3))

    def heading(self, state: State) -> Tensor:
        """``(N, 2)`` the base's heading on the ground: its x axis projected, normalised
        (the yaw's cosine and sine)."""
        w, x, y, z = state["base_quat"].unbind(-1)
        one, two = const(1.0, w), const(2.0, w)
        h = torch.stack([one - two * (y * y + z * z), two * (w * z + x * y)], -1)
        return h / h.norm(dim=-1, keepdim=True)

    def base_frame(self, s: State) -> tuple[Tensor, Tensor]:
        """Base linear velocity and gravity direction in the base frame, ``(N, 3)`` each."""
        q = s["base_quat"]
        return quat_rotate_inverse(q, s["base_lin_vel"]), self.gravity(q)

    def observe(self, s: State) -> Tensor:
        v, g = self.base_frame(s)
        phase = self.phases(s)
        two_pi = const(2 * math.pi, phase)
        clock = torch.cat([torch.sin(two_pi * phase), torch.cos(two_pi * phase)], -1)
        return torch.cat([v, s["base_ang_vel"], g, s["command"], s["joint_pos"] - self.robot_model.nominal,
                          const(0.1, v) * s["joint_vel"], s["last_action"], clock, self.reference(phase)], -1)

    # ------------------------------------------------------------------ rewards
    def shared_terms(self, s: State, v: Tensor, g: Tensor, phase: Tensor, feet: Tensor) -> dict[str, Tensor]:
        cfg = self.cfg

        k = const_like(g)  # the constants as tensors of its dtype: no per-call dtype copies

        feet_z = feet[..., 2] - self.foot_radius
        foot_height = k(cfg.gait.foot_height)
        return {
            "orientation": k(-cfg.k_orientation) * g[:, :2].square().sum(-1),
            "base_height": k(-cfg.k_height) * (s["base_pos"][:, 2] - k(cfg.base_height)).square(),
            "vertical_velocity": k(-cfg.k_vz) * s["base_lin_vel"][:, 2].square(),
            "torque": k(-cfg.k_torque) * self.robot_model.torques(s).square().sum(-1),
            "joint_velocity": k(-cfg.k_joint_vel) * s["joint_vel"].square().sum(-1),
            "foot_height": k(-cfg.k_foot_height) * (feet_z - foot_height * self.swing(phase)).square().sum(-1),
            "alive": torch.full_like(g[:, 0], cfg.alive),
        }

    def task_terms(self, s: State, v: Tensor, g: Tensor, phase: Tensor, feet: Tensor) -> dict[str, Tensor]:
        """The task's own terms (``feet``: ``(N, 4, 3)`` world foot positions)."""
        return {}

    def evaluate(self, s: State, failed: Tensor) -> TaskStep:
        v, g = self.base_frame(s)
        phase = self.phases(s)
        feet = self.robot_model.feet(s)
        terms = {**self.task_terms(s, v, g, phase, feet), **self.shared_terms(s, v, g, phase, feet)}
        err = (v[:, :2] - s["command"][:, :2]).detach().norm(dim=-1)
        error_sum = s["velocity_error_sum"] + err
        task_state = {"phase0": s["phase0"], "command": s["command"], "start_xy": s["start_xy"],
                      "velocity_error_sum": error_sum}
        upright = (~failed).to(self.dtype)
        metrics = {"upright": upright, "velocity_error": error_sum / s["step"].to(self.dtype),
                   "distance": (s["base_pos"][:, :2] - s["start_xy"]).detach().norm(dim=-1)}
        return TaskStep(terms, task_state, torch.zeros_like(failed), metrics)

    def failure(self, s: State) -> tuple[Tensor, Tensor]:
        diverged = self.robot_model.diverged(s)
        g = self.gravity(s["base_quat"].detach())
        cfg, pos = self.cfg, s["base_pos"].detach()
        low = pos[:, 2] < const(cfg.min_base_height, pos)
        out = (pos[:, 2] > const(cfg.max_base_height, pos)) | (
            pos[:, :2].abs() > const(cfg.arena_half_extent, pos)).any(-1)
        tilted = -g[:, 2] < const(math.cos(cfg.max_tilt), g)
        return diverged, (low | tilted | out) & ~diverged

    def limits(self) -> str:
        cfg = self.cfg
        return (f"finite state, min_base_height = {cfg.min_base_height:g} m <= base height <= max_base_height = "
                f"{cfg.max_base_height:g} m, |x|, |y| <= arena_half_extent = {cfg.arena_half_extent:g} m, tilt <= "
                f"max_tilt = {cfg.max_tilt:g} rad")


@dataclass(frozen=True)
class TrotConfig(QuadrupedTaskConfig):
    """Trot-in-place options (on top of :class:`QuadrupedTaskConfig`).

    Attributes:
        k_track: weight of the joint tracking error.
        k_drift: weight of the horizontal base speed and yaw rate (stay in place).
    """

    k_track: float = 5.0
    k_drift: float = 1.0


class TrotTask(_QuadrupedTask):
    """Trot in place by imitating the gait's kinematic reference (the anchor's task)."""

    name = "trot"
    label = "Quadruped: trot in place"
    Config = TrotConfig
    reward_terms = (
        RewardTerm("joint_tracking", True, "-k_track |q - (nominal + reference)|^2"),
        RewardTerm("drift", True, "-k_drift (|v_xy|^2 + omega_z^2)"),
        *_shared_terms(),
    )

    metric_names = ("upright", "velocity_error", "distance", "tracking_error")
    metric_units = {**_QuadrupedTask.metric_units, "tracking_error": "rad"}
    main_metric = ("tracking_error", True)

    def evaluate(self, s: State, failed: Tensor) -> TaskStep:
        out = super().evaluate(s, failed)
        target = self.robot_model.nominal + self.reference(self.phases(s))
        rms = (s["joint_pos"] - target).detach().square().mean(-1).sqrt()
        return out._replace(metrics={**out.metrics, "tracking_error": rms})

    def task_terms(self, s, v, g, phase, feet):
        cfg, robot = self.cfg, self.robot_model
        target = robot.nominal + self.reference(phase)
        return {"joint_tracking": const(-cfg.k_track, v) * (s["joint_pos"] - target).square().sum(-1),
                "drift": const(-cfg.k_drift, v) * (v[:, :2].square().sum(-1) + s["base_ang_vel"][:, 2].square())}


@dataclass(frozen=True)
class WalkConfig(QuadrupedTaskConfig):
    """Forward-walking options (on top of :class:`QuadrupedTaskConfig`).

    Attributes:
        speed: ``(min, max)`` commanded forward speed, m/s (the paper: 1 m/s).
        k_velocity: weight of the squared base velocity error (``|v_xy - command|^2``).
        k_yaw: weight of the yaw-rate error.
        k_placement: weight of the Raibert foot-placement error.
        alive: bonus per step, 3 here (1 in the trot task): larger than the velocity
            penalty of standing still (``k_velocity * 1 m/s ** 2``) plus the usual shaping
            penalties, so that every step upright scores positively and falling (which
            ends the episode) never pays; with 1, a policy that fell early out-scored one
            that stood the whole episode.
    """

    speed: tuple[float, float] = (1.0, 1.0)
    k_velocity: float = 2.0
    k_yaw: float = 0.5
    k_placement: float = 5.0
    alive: float = 3.0


class WalkTask(_QuadrupedTask):
    """Walk forward at the commanded speed, upright, with a trot's foot placement and height."""

    name = "walk"
    label = "Quadruped: walk at 1 m/s"
    Config = WalkConfig
    reward_terms = (
        RewardTerm("velocity", True, "-k_velocity |v_xy - command_xy|^2 (base frame)"),
        RewardTerm("yaw_rate", True, "-k_yaw (omega_z - command_yaw)^2"),
        RewardTerm("foot_placement", True, "-k_placement sum_f |p_f - p*_f|^2 in the base's yaw frame, p*: "
                                           "the nominal foot position shifted by the Raibert heuristic"),
        *_shared_terms(),
    )

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        robot = self.robot_model
        rest = robot.at_rest(1)
        # (with the PyTorch kinematics, so that this constant is the same bit for bit whether or not
        # the native kernel is built)
        feet = robot.feet(rest, kinematics(robot.mt, robot.qpos(rest)))[0]
        self.nominal_feet_xy = feet[:, :2] - robot.nominal_qpos[:2]  # (4, 2) relative to the base

    def sample_command(self, n, gen):
        lo, hi = self.cfg.speed
        u = torch.rand(n, generator=gen, **self._f)
        zero = torch.zeros_like(u)
        return torch.stack([lo + (hi - lo) * u, zero, zero], -1)

    def placement_targets(self, s: State, phase: Tensor) -> Tensor:
        """``(N, 4, 2)`` Raibert targets of the feet relative to the base, yaw frame, m: a stance
        foot moves back from ``+v T / 4`` to ``-v T / 4`` (``T`` the gait period), a swinging
        one forward again."""
        k = const_like(phase)  # the constants as tensors of its dtype: no per-call dtype copies

        reach = s["command"][:, :2] / k(4.0 * self.cfg.gait.frequency)  # v T / 4, (N, 2)
        tri = torch.where(phase < k(0.5), k(1.0) - k(4.0) * phase, k(4.0) * phase - k(3.0))  # +1 -> -1 -> +1
        return self.nominal_feet_xy + tri.unsqueeze(-1) * reach.unsqueeze(1)

    def task_terms(self, s, v, g, phase, feet):
        cfg = self.cfg

        k = const_like(v)  # the constants as tensors of its dtype: no per-call dtype copies

        heading = self.heading(s)  # the yaw's cosine and sine
        c, si = heading[:, :1], heading[:, 1:]
        rel = feet[..., :2] - s["base_pos"][:, :2].unsqueeze(1)
        rel = torch.stack([c * rel[..., 0] + si * rel[..., 1], -si * rel[..., 0] + c * rel[..., 1]], -1)
        return {
            "velocity": k(-cfg.k_velocity) * (v[:, :2] - s["command"][:, :2]).square().sum(-1),
            "yaw_rate": k(-cfg.k_yaw) * (s["base_ang_vel"][:, 2] - s["command"][:, 2]).square(),
            "foot_placement": k(-cfg.k_placement) * (rel - self.placement_targets(s, phase)).square().sum((-1, -2)),
        }
