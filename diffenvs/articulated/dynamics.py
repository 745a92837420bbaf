r"""Batched, differentiable rigid-body dynamics of a floating-base tree (pure PyTorch).

Everything is batched over envs ``N`` and walks the tree one *level* at a time (all legs
at once), float32 or float64, CPU or CUDA, with autograd through every step.

Spatial vectors are 6-vectors ``(angular; linear)`` in world axes about a reference point
``o``, the base origin of the moment (any fixed point gives the same generalised
quantities; this one keeps the numbers small): a motion ``V = (ω, v_o)`` (``v_o`` is the
velocity of the body point at ``o``), a force ``F = (n_o, f)``. Each dof ``k`` has a motion
axis ``S_k`` (MuJoCo's ``cdof``): the base's translations ``(0, e_i)``, its rotations
``(R e_i, 0)`` about body axes, and a hinge ``(u, r \times u)`` (axis ``u`` through ``r``).
With ``A[b, k] = 1`` when dof ``k`` moves body ``b``, the body Jacobians are
``J_b = S diag(A[b])`` and

* velocities ``V_b = J_b \dot q``;
* the mass matrix ``M = \sum_b J_b^T I_b J_b`` (``I_b`` the spatial inertia about ``o``),
  plus armature on the diagonal (the composite-rigid-body result, in batched matrix form);
* the bias forces ``c(q, \dot q) = \sum_b J_b^T (I_b a_b + V_b \times^* I_b V_b)`` with the
  velocity-product accelerations ``a_b = a_0 + \sum_k A[b, k] (V_{p(k)} \times S_k) \dot q_k``
  (recursive Newton-Euler at zero joint acceleration) and gravity entering as the base's
  fictitious acceleration ``-g``; the base's own term is ``a_0 = (0, -ω \times v)`` because its
  linear velocity is that of the moving base origin;
* the forward dynamics ``M \ddot q = τ - c`` by a batched Cholesky solve.

The state and dof conventions are MuJoCo's (see :mod:`diffenvs.articulated.model`), so
``M``, ``c`` and ``\ddot q`` compare with ``mj_fullM``, ``qfrc_bias`` and ``qacc``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from ..consts import const, const_like
from ..rotations import quat_mul, quat_normalize, quat_to_rotmat
from .model import ModelTensors


class Kinematics(NamedTuple):
    """Positions and motion axes of every body for a batch of configurations."""

    rot: Tensor  # (N, nb, 3, 3) body -> world, level order
    pos: Tensor  # (N, nb, 3) body origins, world, m
    origin: Tensor  # (N, 3) the reference point o of the spatial quantities (the base origin)
    axes: Tensor  # (N, 6, nv) dof motion axes S (angular; linear about o), MuJoCo dof order


def skew(v: Tensor) -> Tensor:
    """``(..., 3, 3)`` cross-product matrices of ``(..., 3)`` vectors."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*v.shape, 3)


def _cross(a: Tensor, b: Tensor, dim: int = -1) -> Tensor:
    return torch.linalg.cross(a, b, dim=dim)


def kinematics(mt: ModelTensors, qpos: Tensor) -> Kinematics:
    """Forward kinematics of ``qpos`` ``(N, nq)``."""
    base, quat, hinge = qpos[:, :3], qpos[:, 3:7], qpos[:, 7:]
    angle = hinge[:, mt.hinge_of_body]  # (N, nb - 1), level order
    s, c = angle.sin()[..., None, None], angle.cos()[..., None, None]
    # Rotation of each body relative to its parent: the fixed offset, then the hinge
    # (Rodrigues: I + sin K + (1 - cos) K^2 with K the axis's cross-product matrix).
    rel = mt.body_rot[1:] @ (mt.eye3 + s * mt.hinge_k + (const(1.0, c) - c) * mt.hinge_k2)  # (N, nb - 1, 3, 3)
    rots, poss = [quat_to_rotmat(quat).unsqueeze(1)], [base.unsqueeze(1)]
    for (a, b), parent in zip(mt.levels[1:], mt.level_parent):
        rp, pp = rots[-1][:, parent], poss[-1][:, parent]
        poss.append(pp + (rp @ mt.body_pos[a:b].unsqueeze(-1)).squeeze(-1))
        rots.append(rp @ rel[:, a - 1:b - 1])
    rot, pos = torch.cat(rots, 1), torch.cat(poss, 1)
    # Motion axes: hinges (u, r x u) with u = R_b axis_b through the body origin r.
    u = (rot[:, 1:] @ mt.hinge_axis.unsqueeze(-1)).squeeze(-1)  # (N, nb - 1, 3)
    r = pos[:, 1:] - base.unsqueeze(1)
    hinge_axes = torch.cat([u, _cross(r, u)], -1)[:, mt.body_of_hinge].transpose(1, 2)  # (N, 6, nh) file order
    r0 = rot[:, 0]
    n = qpos.shape[0]
    zero, eye = r0.new_zeros(n, 3, 3), mt.eye3.expand(n, 3, 3)
    base_axes = torch.cat([torch.cat([zero, r0], 2), torch.cat([eye, zero], 2)], 1)  # (N, 6, 6)
    return Kinematics(rot, pos, base, torch.cat([base_axes, hinge_axes], 2))


def body_velocities(mt: ModelTensors, kin: Kinematics, qvel: Tensor) -> Tensor:
    """``(N, nb, 6)`` spatial velocities ``V_b = J_b \\dot q``."""
    return (mt.ancestors @ (kin.axes * qvel.unsqueeze(1)).transpose(1, 2))


def spatial_inertias(mt: ModelTensors, kin: Kinematics) -> Tensor:
    """``(N, nb, 6, 6)`` spatial inertia of each body about ``o`` (world axes):
    ``[[Ic - m [c]x [c]x, m [c]x], [-m [c]x, m 1]]`` with ``c`` the centre of mass relative to
    ``o`` and ``Ic`` the rotational inertia about it."""
    c = kin.pos + (kin.rot @ mt.com.unsqueeze(-1)).squeeze(-1) - kin.origin.unsqueeze(1)  # (N, nb, 3)
    m = mt.mass.view(-1, 1, 1)
    cx = skew(c)
    # -[c]x [c]x = |c|^2 1 - c c^T
    rot_part = kin.rot @ mt.inertia @ kin.rot.transpose(-1, -2) + m * (
        c.square().sum(-1)[..., None, None] * mt.eye3 - c.unsqueeze(-1) * c.unsqueeze(-2))
    mcx = m * cx
    return torch.cat([torch.cat([rot_part, mcx], -1), torch.cat([-mcx, m * mt.eye3.expand_as(mcx)], -1)], -2)


def _motion_cross(v: Tensor, s: Tensor) -> Tensor:
    """Spatial motion cross product ``v × s`` over the last dim: ``(ω × s_ω, ω × s_v + v_o × s_ω)``."""
    w, vo = v[..., :3], v[..., 3:]
    sw, sv = s[..., :3], s[..., 3:]
    return torch.cat([_cross(w, sw), _cross(w, sv) + _cross(vo, sw)], -1)


def _force_cross(v: Tensor, f: Tensor) -> Tensor:
    """Spatial force cross product ``v ×* f`` over the last dim: ``(ω × n + v_o × f, ω × f)``."""
    w, vo = v[..., :3], v[..., 3:]
    n, ff = f[..., :3], f[..., 3:]
    return torch.cat([_cross(w, n) + _cross(vo, ff), _cross(w, ff)], -1)


class Dynamics(NamedTuple):
    """Everything :func:`dynamics` computes for one batch of states."""

    kin: Kinematics
    velocity: Tensor  # (N, nb, 6) body spatial velocities
    mass: Tensor  # (N, nv, nv) joint-space inertia (with armature)
    bias: Tensor  # (N, nv) c(q, qdot): Coriolis, centrifugal and gravity forces


def dynamics(mt: ModelTensors, qpos: Tensor, qvel: Tensor) -> Dynamics:
    """Kinematics, velocities, mass matrix and bias forces of ``(qpos, qvel)``."""
    kin = kinematics(mt, qpos)
    vel = body_velocities(mt, kin, qvel)
    inertia = spatial_inertias(mt, kin)  # (N, nb, 6, 6)
    axes = kin.axes.transpose(1, 2)  # (N, nv, 6): S_k
    # Composite-rigid-body mass matrix: the inertia of the subtree below each body, then
    # M[k, l] = S_l . (Ic_b(k) S_k) for dofs l at or above dof k's body, mirrored.
    n, nb = inertia.shape[:2]
    composite = (mt.descendants @ inertia.reshape(n, nb, 36)).view(n, nb, 6, 6)
    f = (composite[:, mt.dof_body] @ axes.unsqueeze(-1)).squeeze(-1)  # (N, nv, 6)
    a = f @ kin.axes  # (N, nv, nv): a[k, l] = S_l . f_k
    mass = a * mt.dof_lower + (a * mt.dof_strict).transpose(1, 2) + torch.diag(mt.armature)
    # Velocity-product accelerations: the base's, then each hinge's (V_parent x S_k) qdot_k
    # summed down the tree; gravity as the base's fictitious acceleration -g.
    w0, v0 = vel[:, 0, :3], qvel[:, :3]
    a0 = torch.cat([torch.zeros_like(w0), -_cross(w0, v0) - mt.gravity], -1)
    terms = _motion_cross(vel[:, mt.parent_of_hinge], axes[:, 6:]) * qvel[:, 6:].unsqueeze(-1)
    acc = a0.unsqueeze(1) + mt.ancestors[:, 6:] @ terms
    momentum = (inertia @ torch.stack([acc, vel], -1))  # (N, nb, 6, 2): I a, I V
    force = momentum[..., 0] + _force_cross(vel, momentum[..., 1])
    subtree = mt.descendants @ force  # the forces of each body's subtree
    bias = (subtree[:, mt.dof_body] * axes).sum(-1)
    return Dynamics(kin, vel, mass, bias)


def point_positions(kin: Kinematics, body: Tensor, local: Tensor) -> Tensor:
    """World positions ``(N, P, 3)`` of points ``local`` ``(P, 3)`` fixed in bodies ``body`` ``(P,)``."""
    return kin.pos[:, body] + (kin.rot[:, body] @ local.unsqueeze(-1)).squeeze(-1)


def point_states(mt: ModelTensors, kin: Kinematics, vel: Tensor, body: Tensor, local: Tensor
                 ) -> tuple[Tensor, Tensor]:
    """World positions and velocities ``(N, P, 3)`` of points ``local`` ``(P, 3)`` fixed in bodies ``body`` ``(P,)``."""
    pos = point_positions(kin, body, local)
    v = vel[:, body]
    return pos, v[..., 3:] + _cross(v[..., :3], pos - kin.origin.unsqueeze(1))


def point_forces(mt: ModelTensors, kin: Kinematics, body: Tensor, points: Tensor, forces: Tensor) -> Tensor:
    """Generalised forces ``(N, nv)`` of world forces ``forces`` ``(N, P, 3)`` applied at world
    points ``points`` ``(N, P, 3)`` of bodies ``body`` ``(P,)`` (``J^T f``)."""
    spatial = torch.cat([_cross(points - kin.origin.unsqueeze(1), forces), forces], -1)  # (N, P, 6)
    return ((spatial @ kin.axes) * mt.ancestors[body]).sum(1)


def smooth_clamp(x: Tensor, limit: Tensor | float, width: float) -> Tensor:
    """``clamp(x, -limit, limit)`` with the corners rounded over ``width`` (softplus):
    equal to ``x`` to within ``width * exp(-(limit - |x|) / width)`` inside, with a
    gradient that fades smoothly instead of dropping to 0."""
    sp = torch.nn.functional.softplus
    w = const(width, x)
    return x - w * sp((x - limit) / w) + w * sp((-x - limit) / w)


@dataclass(frozen=True)
class ContactParams:
    r"""Soft, smooth foot-ground contact (ground ``z = 0``, normal ``+z``) with elasto-plastic friction.

    With penetration ``δ = radius - z`` of a foot sphere, its velocity ``v`` and its
    *anchor* ``a`` (a point on the ground, part of the state: where the foot sticks):

    * normal force ``f_n = σ(δ / ε) · ε_f softplus((k δ - c \dot z) / ε_f)``: a spring and a
      damper that only push (a softplus of width ``ε_f`` instead of a clamp at 0), faded in
      over ``ε`` around first touch, exactly 0 in the limit of large separation;
    * friction: a tangential spring to the anchor and a damper,
      ``f_0 = -k_t (p_xy - a) - c_t v_xy``, kept inside the friction cone: with
      ``x = |f_0| / μ f_n``, ``f_t = f_0`` while ``x < s`` (sticking) and
      ``f_t = f_0 (s + (1 - s) tanh((x - s) / (1 - s))) / x`` above (saturating smoothly
      towards ``μ f_n``; continuous to the second derivative at ``x = s``);
    * the anchor then moves to where the saturated spring holds:
      ``a' = p_xy + (f_t + c_t v_xy) / k_t``. A sticking foot keeps its anchor exactly (no
      creep below ``s μ f_n``), a sliding one drags it, a foot in the air carries it along.

    The dampers are integrated implicitly by :func:`euler_step` (``M + dt J^T C J``).

    Defaults: ``k = 6000`` N/m sinks ANYmal C's feet about 18 mm into the ground when it
    stands, as MuJoCo's deliberately soft foot contact in the Menagerie model does
    (``solimp = 0.015 1 0.031``, "to approximate the effect of rubber"), so that both
    stand at nearly the same height (3 mm apart after 2 s, 1.4 mm after 5.5 s, by
    ``benchmarks/quadruped_vs_mujoco.py``; the anchors hold, MuJoCo's soft contact
    creeps); ``c = 300`` N s/m damps a foot's bounce; the tangential spring
    ``k_t = 6000`` N/m lets a standing foot give about 7 mm under its 42 N of tangential
    load (a stiffer one, 20000, ``--tangential-stiffness 20000`` of that script, stands
    within 1 mm of MuJoCo's height but makes the dynamics stiffer
    than the float64 finite-difference checks of the contract suite resolve at 1e-6).

    Attributes:
        stiffness: ``k``, N/m. damping: ``c``, N s/m. smoothing: ``ε``, m.
        force_smoothing: ``ε_f``, N. friction: ``μ``.
        tangential_stiffness: ``k_t``, N/m. tangential_damping: ``c_t``, N s/m.
        stick: ``s``, the fraction of the friction cone up to which a foot sticks exactly.
    """

    stiffness: float = 6.0e3
    damping: float = 300.0
    smoothing: float = 1.0e-3
    force_smoothing: float = 1.0
    friction: float = 0.8
    tangential_stiffness: float = 6.0e3
    tangential_damping: float = 300.0
    stick: float = 0.7


class ContactForces(NamedTuple):
    """The result of :func:`contact_forces`."""

    force: Tensor  # (N, F, 3) world forces on the feet, N
    anchor: Tensor  # (N, F, 2) the feet's anchors after this step, m
    damping: Tensor  # (N, F, 3, 3) C: the dampers' slope -df/dv (symmetric, positive semi-definite)


def contact_forces(params: ContactParams, pos: Tensor, vel: Tensor, radius: Tensor, anchor: Tensor
                   ) -> ContactForces:
    """Forces on foot spheres at ``pos`` moving at ``vel`` ``(N, F, 3)`` with anchors ``(N, F, 2)``."""
    p = params

    k = const_like(pos)  # the constants as tensors of its dtype: no per-call dtype copies

    depth = radius - pos[..., 2]
    arg = (k(p.stiffness) * depth - k(p.damping) * vel[..., 2]) / k(p.force_smoothing)
    gate = torch.sigmoid(depth / k(p.smoothing))
    normal = gate * k(p.force_smoothing) * torch.nn.functional.softplus(arg)
    vt = vel[..., :2]
    trial = k(-p.tangential_stiffness) * (pos[..., :2] - anchor) - k(p.tangential_damping) * vt
    cap = (k(p.friction) * normal).unsqueeze(-1).clamp(min=1e-6)
    ratio = trial.square().sum(-1, keepdim=True).clamp(min=1e-30).sqrt() / cap  # |f_0| / (μ f_n)
    a = p.stick
    over = ratio.clamp(min=a)  # (the saturating branch only sees ratios >= a: no 0 / 0)
    scale = torch.where(ratio < k(a), k(1.0), (k(a) + k(1.0 - a) * torch.tanh((over - k(a)) / k(1.0 - a))) / over)
    tangential = trial * scale
    new_anchor = pos[..., :2] + (tangential + k(p.tangential_damping) * vt) / k(p.tangential_stiffness)
    force = torch.cat([tangential, normal.unsqueeze(-1)], -1)
    c_n = k(p.damping) * gate * torch.sigmoid(arg)  # -d f_n / d zdot
    c_t = k(p.tangential_damping) * scale.squeeze(-1)
    damping = torch.diag_embed(torch.stack([c_t, c_t, c_n], -1))
    return ContactForces(force, new_anchor, damping)


def point_jacobians(mt: ModelTensors, kin: Kinematics, body: Tensor, points: Tensor) -> Tensor:
    """``(N, P, 3, nv)``: d(world velocity of each point)/d(qvel) for world points ``points``
    ``(N, P, 3)`` fixed in bodies ``body`` ``(P,)``."""
    r = (points - kin.origin.unsqueeze(1)).unsqueeze(-1)  # (N, P, 3, 1)
    w, v = kin.axes[:, None, :3], kin.axes[:, None, 3:]  # (N, 1, 3, nv)
    return (v + _cross(w, r.expand(-1, -1, -1, w.shape[-1]), dim=2)) * mt.ancestors[body].unsqueeze(1)


def integrate_positions(qpos: Tensor, qvel: Tensor, dt: float) -> Tensor:
    """``qpos`` advanced by ``qvel`` over ``dt`` (MuJoCo's ``mj_integratePos``): the base
    quaternion turned by its body-frame angular velocity, ``q ⊗ exp(ω dt / 2)``."""
    h = const(dt, qvel)
    half = const(0.5 * dt, qvel) * qvel[:, 3:6]
    angle = half.square().sum(-1, keepdim=True).clamp(min=1e-30).sqrt()
    turn = torch.cat([angle.cos(), torch.sinc(angle / const(torch.pi, angle)) * half], -1)
    quat = quat_normalize(quat_mul(qpos[:, 3:7], turn))
    return torch.cat([qpos[:, :3] + h * qvel[:, :3], quat, qpos[:, 7:] + h * qvel[:, 6:]], -1)


def actuator_forces(mt: ModelTensors, qpos: Tensor, qvel: Tensor, targets: Tensor, width: float = 1.0) -> Tensor:
    """Hinge torques ``(N, nh)`` of the position actuators (MuJoCo's ``<position>``):
    ``kp (target - q) - kv \\dot q``, limited to ``±force_limit`` by :func:`smooth_clamp`
    of ``width`` N m (``width = 0``: a hard clamp, MuJoCo's ``forcerange``)."""
    tau = mt.kp * (targets - qpos[:, 7:]) - mt.kv * qvel[:, 6:]
    if width == 0:
        return torch.minimum(torch.maximum(tau, -mt.force_limit), mt.force_limit)
    return smooth_clamp(tau, mt.force_limit, width)


class Accel(NamedTuple):
    """The result of :func:`forward_dynamics`."""

    qacc: Tensor  # (N, nv)
    dyn: Dynamics
    foot_pos: Tensor | None  # (N, nf, 3) foot sphere centres (None without contact)
    foot_force: Tensor | None  # (N, nf, 3) contact forces on the feet, world, N
    anchor: Tensor | None  # (N, nf, 2) the feet's friction anchors after the step


def forward_dynamics(mt: ModelTensors, qpos: Tensor, qvel: Tensor, hinge_torque: Tensor | None = None,
                     contact: ContactParams | None = None, anchor: Tensor | None = None,
                     implicit_damping_dt: float = 0.0) -> Accel:
    """Joint accelerations ``M^{-1} (τ + τ_damping + J^T f_contact - c)``.

    Args:
        hinge_torque: ``(N, nh)`` actuator torques (``None``: 0).
        contact: the foot-ground model (``None``: no contact).
        anchor: ``(N, nf, 2)`` the feet's friction anchors (``None``: where the feet are,
            i.e. no tangential spring force yet).
        implicit_damping_dt: with ``dt > 0``, solve with ``M + dt (D + J^T C J)`` (``D`` the
            joint damping as in MuJoCo's Euler integrator, ``C`` the contact dampers at the
            feet, ``J`` their point Jacobians): a velocity update of ``dt * qacc`` then
            integrates those velocity-dependent forces implicitly.
    """
    dyn = dynamics(mt, qpos, qvel)
    force = -dyn.bias - mt.damping * qvel
    if hinge_torque is not None:
        force = force + torch.cat([torch.zeros_like(force[:, :6]), hinge_torque], -1)
    mass = dyn.mass + torch.diag(const(implicit_damping_dt, qvel) * mt.damping) if implicit_damping_dt else dyn.mass
    feet = grf = new_anchor = None
    if contact is not None and mt.foot_body.numel():
        feet, vel = point_states(mt, dyn.kin, dyn.velocity, mt.foot_body, mt.foot_pos)
        cf = contact_forces(contact, feet, vel, mt.foot_radius, feet[..., :2] if anchor is None else anchor)
        grf, new_anchor = cf.force, cf.anchor
        if implicit_damping_dt:
            jac = point_jacobians(mt, dyn.kin, mt.foot_body, feet)  # (N, F, 3, nv)
            n, nf = jac.shape[:2]
            cj = (cf.damping @ jac).reshape(n, 3 * nf, -1)
            mass = mass + const(implicit_damping_dt, qvel) * (jac.reshape(n, 3 * nf, -1).transpose(1, 2) @ cj)
        force = force + point_forces(mt, dyn.kin, mt.foot_body, feet, grf)
    # cholesky_ex: a row whose state has blown up (NaN mass matrix) gives NaN in that row
    # only, for the env to end that episode, instead of an exception for the whole batch.
    qacc = torch.cholesky_solve(force.unsqueeze(-1), torch.linalg.cholesky_ex(mass).L).squeeze(-1)
    return Accel(qacc, dyn, feet, grf, new_anchor)


def euler_step(mt: ModelTensors, qpos: Tensor, qvel: Tensor, dt: float, hinge_torque: Tensor | None = None,
               contact: ContactParams | None = None, anchor: Tensor | None = None
               ) -> tuple[Tensor, Tensor, Accel]:
    """One semi-implicit Euler step (MuJoCo's ``Euler`` integrator, damping implicit):
    ``\\dot q' = \\dot q + dt \\ddot q``, then ``q' = q ⊕ dt \\dot q'``. The feet's new friction
    anchors are ``acc.anchor``."""
    acc = forward_dynamics(mt, qpos, qvel, hinge_torque, contact, anchor, implicit_damping_dt=dt)
    qvel = qvel + const(dt, qvel) * acc.qacc
    return integrate_positions(qpos, qvel, dt), qvel, acc
