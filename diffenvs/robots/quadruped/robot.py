"""A legged robot on the :mod:`diffenvs.articulated` engine: PD targets at the control rate,
semi-implicit Euler substeps with soft foot-ground contact in between."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import platform
import sys
from dataclasses import dataclass

import torch
from torch import Tensor

from ... import native
from ...articulated import (
    ContactParams,
    Kinematics,
    actuator_forces,
    euler_step,
    fused,
    kinematics,
    load_mjcf,
    point_positions,
)
from ...consts import const
from ...contract import Robot, State, StateField
from ...fileio import atomic_path
from . import ANYMAL_C_XML

#: Settled standing poses (float64, CPU), per (robot options, control step).
_CACHE: dict = {}


def _load_settled(path: str) -> tuple[Tensor, Tensor, Tensor] | None:
    """A settled pose saved by an earlier process, or ``None`` (none, or unreadable)."""
    try:
        data = torch.load(path, weights_only=True)
        return data["qpos"], data["foot_force"], data["anchor"]
    except (OSError, KeyError, RuntimeError, EOFError, TypeError, pickle.UnpicklingError):
        return None

#: The robot fields in the order of the engine's ``qpos`` and ``qvel``.
_QPOS = ("base_pos", "base_quat", "joint_pos")
_QVEL = ("base_lin_vel", "base_ang_vel", "joint_vel")


@dataclass(frozen=True)
class QuadrupedConfig:
    """Quadruped options (keyword arguments of the env, or ``robot_options``).

    Attributes:
        model: MJCF file of the robot (default: the vendored ANYmal C).
        nominal_pose: the keyframe whose joint angles action 0 commands.
        substeps: engine steps per control step (``dt / substeps`` each).
        action_scale: rad of PD target per unit of action (targets are
            ``nominal + action_scale * action``).
        kp: PD stiffness, N m/rad (``None``: the model's actuators, 100 for ANYmal C).
        kd: PD damping, N m s/rad, on top of the model's joint damping (1 for ANYmal C).
        torque_smoothing: width, N m, of the smooth torque limit (the model's force range).
        contact: the foot-ground contact parameters (:class:`~diffenvs.articulated.ContactParams`).
        settle_time: episodes start from the nominal pose after this long standing under PD
            at the nominal targets (settled on the soft ground), s.
        fused: on CPU, take each control step in one native call (:mod:`~diffenvs.articulated.fused`;
            the same equations, equal to float rounding) where a C compiler is available, and the
            foot positions (:meth:`Quadruped.feet`) too; where a gradient is tracked their backward
            is one native reverse pass as well (the gradients of
            autograd through the PyTorch ops, to float rounding, with respect to the state and
            the action; not the model's constants). ``False``: PyTorch ops throughout (e.g. to
            differentiate with respect to the model's masses or gains, or under ``torch.func``).
    """

    model: str = ANYMAL_C_XML
    nominal_pose: str = "standing"
    substeps: int = 10
    action_scale: float = 0.25
    kp: float | None = None
    kd: float = 0.0
    torque_smoothing: float = 1.0
    contact: ContactParams = ContactParams()
    settle_time: float = 2.0
    fused: bool = True

    def __post_init__(self):
        if self.substeps < 1:
            raise ValueError(f"quadruped option substeps must be >= 1, got {self.substeps}")
        if not self.action_scale > 0:
            raise ValueError(f"quadruped option action_scale must be > 0, got {self.action_scale}")


class Quadruped(Robot):
    """A floating-base quadruped (ANYmal C by default): 12 joints under PD control.

    Each control step holds the PD targets ``nominal + action_scale * action`` for
    ``substeps`` engine steps: torques ``kp (target - q) - kd q̇`` within the model's limit
    (a smooth clamp), joint damping and the soft foot contact integrated semi-implicitly
    (see :mod:`diffenvs.articulated.dynamics`). Differentiable in state and action.
    Generalised coordinates follow MuJoCo's: the base's linear velocity is in the world
    frame, its angular velocity in the base frame.
    """

    name = "quadruped"
    Config = QuadrupedConfig
    state_fields = {
        "base_pos": StateField((3,), "float", "base origin, m, world frame"),
        "base_quat": StateField((4,), "float", "base attitude, unit quaternion (w, x, y, z), base -> world"),
        "joint_pos": StateField((12,), "float", "joint angles, rad (LF, RF, LH, RH legs x HAA, HFE, KFE)"),
        "base_lin_vel": StateField((3,), "float", "base origin velocity, m/s, world frame"),
        "base_ang_vel": StateField((3,), "float", "base angular velocity, rad/s, base frame"),
        "joint_vel": StateField((12,), "float", "joint rates, rad/s"),
        "last_action": StateField((12,), "float", "the action of the last control step (0 at a start)"),
        "foot_force": StateField((4,), "float", "normal contact force on each foot at the last substep, N "
                                                  "(a reading; recomputed every step)"),
        "foot_anchor": StateField((4, 2), "float", "each foot's friction anchor on the ground (x, y), m (where a "
                                                   "sticking foot is held; see ContactParams)"),
    }
    action_dim = 12
    action_doc = "PD joint targets around the nominal pose, (target - nominal) / action_scale, per joint"
    default_dt = 0.02
    drawer = "diffenvs.robots.quadruped.drawer:QuadrupedDrawer"
    controller = "diffenvs.robots.quadruped.controller:TrotReference"

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        cfg = self.cfg
        self.model = load_mjcf(cfg.model)
        if cfg.nominal_pose not in self.model.keyframes:
            raise ValueError(f"the model {self.model.source} has no keyframe {cfg.nominal_pose!r}; "
                             f"it has {sorted(self.model.keyframes)}")
        mt = self.model.tensors(self.dtype, self.device)
        if cfg.kp is not None:
            mt = dataclasses.replace(mt, kp=torch.full_like(mt.kp, cfg.kp))
        if cfg.kd:
            mt = dataclasses.replace(mt, kv=mt.kv + cfg.kd)
        self.mt = mt
        self.nominal_qpos = self.tensor(self.model.keyframes[cfg.nominal_pose])
        self.nominal = self.nominal_qpos[7:]
        self.substep_dt = self.dt / cfg.substeps
        #: The native control step's packed model, or ``None`` where steps use PyTorch ops only.
        self.fused_model = None
        if (cfg.fused and self.device.type == "cpu" and self.dtype in (torch.float32, torch.float64)
                and self.model.nf and fused.available()):
            self.fused_model = fused.pack(self.model, mt, cfg.contact, cfg.substeps, self.substep_dt,
                                          cfg.torque_smoothing)

    @property
    def fused(self) -> bool:
        """Whether control steps and foot positions run the native kernel, their backward too (see
        :class:`QuadrupedConfig`)."""
        return self.fused_model is not None

    # ------------------------------------------------------------------ state
    @staticmethod
    def qpos(state: State) -> Tensor:
        return torch.cat([state[k] for k in _QPOS], -1)

    @staticmethod
    def qvel(state: State) -> Tensor:
        return torch.cat([state[k] for k in _QVEL], -1)

    @staticmethod
    def split(qpos: Tensor, qvel: Tensor) -> State:
        return {"base_pos": qpos[:, :3], "base_quat": qpos[:, 3:7], "joint_pos": qpos[:, 7:],
                "base_lin_vel": qvel[:, :3], "base_ang_vel": qvel[:, 3:6], "joint_vel": qvel[:, 6:]}

    def targets(self, action: Tensor) -> Tensor:
        """PD targets ``(N, 12)``, rad, of an action."""
        return self.nominal + const(self.cfg.action_scale, action) * action

    def step(self, state: State, action: Tensor) -> State:
        qpos, qvel = self.qpos(state), self.qvel(state)
        target, anchor = self.targets(action), state["foot_anchor"]
        if self.fused_model is not None and fused.supports(self.fused_model, qpos, qvel, anchor, target):
            qpos, qvel, anchor, foot_force = fused.control_step(self.fused_model, qpos, qvel, anchor, target)
            return {**self.split(qpos, qvel), "last_action": action, "foot_force": foot_force, "foot_anchor": anchor}
        for _ in range(self.cfg.substeps):
            tau = actuator_forces(self.mt, qpos, qvel, target, self.cfg.torque_smoothing)
            qpos, qvel, acc = euler_step(self.mt, qpos, qvel, self.substep_dt, tau, self.cfg.contact, anchor)
            anchor = acc.anchor
        return {**self.split(qpos, qvel), "last_action": action, "foot_force": acc.foot_force[..., 2],
                "foot_anchor": anchor}

    def at_rest(self, n: int) -> State:
        """``n`` robots standing still at the origin, settled on the ground under PD at the
        nominal targets (the feet sunk into the soft ground, the joints sagged under the
        load): the keyframe pose simulated for ``settle_time`` once, in float64, then cached."""
        qpos, foot_force, anchor = self._settled()
        qpos = qpos.expand(n, -1).clone()
        zeros = torch.zeros(n, self.model.nv, dtype=self.dtype, device=self.device)
        return {**self.split(qpos, zeros), "last_action": zeros[:, :12].clone(),
                "foot_force": foot_force.expand(n, -1).clone(), "foot_anchor": anchor.expand(n, -1, -1).clone()}

    def _settled(self) -> tuple[Tensor, Tensor]:
        key = (self.cfg, self.dt)
        if key not in _CACHE:
            _CACHE[key] = _load_settled(self._settled_file()) or self._settle()
        return tuple(v.to(dtype=self.dtype, device=self.device) for v in _CACHE[key])

    def _settled_file(self) -> str:
        """Where the settled pose of this robot's options is kept between processes: a file named by
        a hash of everything it depends on (the options but ``fused``, the control step, the model
        file's bytes, the torch version and the platform, since PyTorch's rounding may differ)."""
        with open(self.cfg.model, "rb") as fh:
            model_bytes = fh.read()
        parts = (repr(dataclasses.replace(self.cfg, fused=True)), repr(self.dt), torch.__version__,
                 platform.machine(), sys.platform)
        digest = hashlib.sha256(model_bytes + "|".join(parts).encode()).hexdigest()[:20]
        return os.path.join(native.cache_root(), "settled", f"quadruped-{digest}.pt")

    def _settle(self) -> tuple[Tensor, Tensor, Tensor]:
        """The settling simulation (float64, CPU, PyTorch ops); saved to :meth:`_settled_file`."""
        cfg = self.cfg
        mt = self.model.tensors(torch.float64)
        mt = dataclasses.replace(mt, kp=self.mt.kp.double().cpu(), kv=self.mt.kv.double().cpu())
        qpos = torch.as_tensor(self.model.keyframes[cfg.nominal_pose], dtype=torch.float64).unsqueeze(0)
        qvel = torch.zeros(1, self.model.nv, dtype=torch.float64)
        target, anchor = qpos[:, 7:].clone(), None
        with torch.no_grad():
            for _ in range(round(cfg.settle_time / self.substep_dt)):
                tau = actuator_forces(mt, qpos, qvel, target, cfg.torque_smoothing)
                qpos, qvel, acc = euler_step(mt, qpos, qvel, self.substep_dt, tau, cfg.contact, anchor)
                anchor = acc.anchor
        anchor = anchor - qpos[:, None, :2]  # the robot placed at the origin
        qpos[:, :2] = 0.0
        settled = (qpos[0], acc.foot_force[0, :, 2], anchor[0])
        path = self._settled_file()
        try:
            with atomic_path(path, suffix=".pt") as tmp:
                torch.save({"qpos": settled[0], "foot_force": settled[1], "anchor": settled[2]}, tmp)
        except OSError:  # a read-only cache: settle again next time
            pass
        return settled

    def torques(self, state: State) -> Tensor:
        """``(N, 12)`` joint torques, N m, of the state's last action at its joint positions and rates."""
        return actuator_forces(self.mt, self.qpos(state), self.qvel(state), self.targets(state["last_action"]),
                               self.cfg.torque_smoothing)

    def feet(self, state: State, kin: Kinematics | None = None) -> Tensor:
        """``(N, 4, 3)`` world positions of the foot sphere centres, m (``kin``: the state's
        kinematics, when already computed)."""
        if kin is None:
            qpos = self.qpos(state)
            if self.fused_model is not None and fused.feet_supported(self.fused_model, qpos):
                return fused.feet(self.fused_model, qpos)
            kin = kinematics(self.mt, qpos)
        return point_positions(kin, self.mt.foot_body, self.mt.foot_pos)

    def validate_state(self, state: State) -> None:
        qn = torch.linalg.vector_norm(state["base_quat"], dim=-1)
        if not bool(((qn - 1).abs() < 1e-3).all()):
            raise ValueError("state['base_quat'] must hold unit quaternions (w, x, y, z)")

    def position(self, state: State) -> Tensor:
        return state["base_pos"]

    def describe(self) -> str:
        note = ", fused with a native backward" if self.fused else ""
        return f"quadruped {self.model.source} ({self.cfg.substeps} x {self.substep_dt * 1e3:g} ms substeps{note})"
