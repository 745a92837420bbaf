"""An articulated robot's description: a floating base and a tree of hinge-jointed links.

:class:`ArticulatedModel` holds the constants (float64 numpy arrays, MuJoCo's conventions);
:meth:`ArticulatedModel.tensors` turns them into :class:`ModelTensors` for one dtype and
device, cached. Generalised coordinates follow MuJoCo's free joint and hinges exactly, so
that states and results compare with C MuJoCo one to one:

* ``qpos`` ``(nq = 7 + nh)``: base position (world, m), base quaternion ``(w, x, y, z)``
  (body -> world), then hinge angles (rad) in the model file's joint order.
* ``qvel`` ``(nv = 6 + nh)``: base linear velocity (world frame, m/s), base angular velocity
  (**base frame**, rad/s), hinge rates (rad/s).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class ArticulatedModel:
    """Constants of a floating-base tree (``nb`` bodies, body 0 the base; every other body
    hangs from its parent by one hinge at its origin).

    Bodies are stored in *level order*: the base, then every body one joint away, then
    two, ...; a body's parent comes before it and each level is a contiguous slice, so the
    kinematics walk the tree one level (all legs at once) at a time.

    Attributes:
        body_names: ``nb`` names.
        parent: ``(nb,)`` parent body index (``-1`` for the base).
        levels: ``(start, stop)`` of each level's slice of bodies, base level first.
        body_pos, body_quat: ``(nb, 3)``, ``(nb, 4)``: the body frame in its parent's frame at
            zero joint angle (the base's: its initial pose in the world).
        mass: ``(nb,)`` kg. com: ``(nb, 3)`` centre of mass in the body frame, m.
        inertia: ``(nb, 3, 3)`` inertia about the centre of mass, body frame, kg m^2.
        joint_names: ``nh`` hinge names, in file order (the order of ``qpos[7:]``).
        joint_body: ``(nh,)`` the body each hinge moves. joint_axis: ``(nh, 3)`` unit axis,
            body frame. damping: ``(nh,)`` N m s/rad. armature: ``(nh,)`` kg m^2 (added to the
            mass matrix diagonal). joint_range: ``(nh, 2)`` rad (documentation; no limit force).
        foot_body: ``(nf,)`` body of each contact sphere; foot_pos: ``(nf, 3)`` its centre in
            that body's frame, m; foot_radius: ``(nf,)`` m; foot_names: ``nf`` names.
        kp: ``(nh,)`` position-actuator gain per hinge, N m/rad (0: unactuated); kv: ``(nh,)``
            N m s/rad; force_limit: ``(nh,)`` N m (``inf``: none).
        gravity: ``(3,)`` m/s^2.
        keyframes: named ``qpos`` ``(nq,)`` poses of the file.
        source: where the model came from (a file name).
    """

    body_names: tuple[str, ...]
    parent: np.ndarray
    levels: tuple[tuple[int, int], ...]
    body_pos: np.ndarray
    body_quat: np.ndarray
    mass: np.ndarray
    com: np.ndarray
    inertia: np.ndarray
    joint_names: tuple[str, ...]
    joint_body: np.ndarray
    joint_axis: np.ndarray
    damping: np.ndarray
    armature: np.ndarray
    joint_range: np.ndarray
    foot_names: tuple[str, ...]
    foot_body: np.ndarray
    foot_pos: np.ndarray
    foot_radius: np.ndarray
    kp: np.ndarray
    kv: np.ndarray
    force_limit: np.ndarray
    gravity: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, -9.81]))
    keyframes: dict = field(default_factory=dict)
    source: str = ""

    def __post_init__(self):
        nb, nh = len(self.body_names), len(self.joint_names)
        if nh != nb - 1:
            raise ValueError(f"every body but the base needs exactly one hinge: {nb} bodies, {nh} hinges")
        if self.parent[0] != -1 or any(self.parent[b] >= b for b in range(1, nb)):
            raise ValueError("bodies must be in level order (each parent before its child, the base first)")
        object.__setattr__(self, "_cache", {})

    # ------------------------------------------------------------------ sizes
    @property
    def nb(self) -> int:
        return len(self.body_names)

    @property
    def nh(self) -> int:
        return len(self.joint_names)

    @property
    def nq(self) -> int:
        return 7 + self.nh

    @property
    def nv(self) -> int:
        return 6 + self.nh

    @property
    def nf(self) -> int:
        return len(self.foot_names)

    @property
    def total_mass(self) -> float:
        return float(self.mass.sum())

    def qpos0(self) -> np.ndarray:
        """The file's initial configuration: the base at its pose, every hinge at 0."""
        return np.concatenate([self.body_pos[0], self.body_quat[0], np.zeros(self.nh)])

    def ancestors(self) -> np.ndarray:
        """``(nb, nv)`` 0/1: dof ``k`` moves body ``b`` (it belongs to ``b`` or an ancestor)."""
        out = np.zeros((self.nb, self.nv))
        hinge_of = {int(b): 6 + j for j, b in enumerate(self.joint_body)}
        for b in range(self.nb):
            a = b
            while a > 0:
                out[b, hinge_of[a]] = 1.0
                a = int(self.parent[a])
            out[b, :6] = 1.0
        return out

    def tensors(self, dtype: torch.dtype = torch.float32, device=None) -> ModelTensors:
        """The constants as tensors (cached per dtype and device)."""
        key = (dtype, torch.device(device or "cpu"))
        cache = self._cache
        if key not in cache:
            cache[key] = ModelTensors.build(self, dtype, key[1])
        return cache[key]


@dataclass(frozen=True)
class ModelTensors:
    """:class:`ArticulatedModel` constants on one dtype and device, arranged for the batched
    algorithms of :mod:`diffenvs.articulated.dynamics`."""

    dtype: torch.dtype
    device: torch.device
    levels: tuple[tuple[int, int], ...]
    level_parent: tuple  # per level > 0: each body's parent within the previous level (an index, or a view)
    body_pos: Tensor  # (nb, 3)
    body_rot: Tensor  # (nb, 3, 3) parent -> body at zero joint angle
    mass: Tensor  # (nb,)
    com: Tensor  # (nb, 3)
    inertia: Tensor  # (nb, 3, 3)
    hinge_axis: Tensor  # (nb - 1, 3) axis of the hinge of bodies 1.. (level order), body frame
    hinge_k: Tensor  # (nb - 1, 3, 3) its cross-product matrix K
    hinge_k2: Tensor  # (nb - 1, 3, 3) K @ K
    eye3: Tensor  # (3, 3)
    hinge_of_body: Tensor  # (nb - 1,) int64: qpos/qvel hinge index (file order) of bodies 1..
    body_of_hinge: Tensor  # (nh,) int64: level-order body index (minus 1) of each file-order hinge
    parent_of_hinge: Tensor  # (nh,) int64: parent body of each file-order hinge
    ancestors: Tensor  # (nb, nv) 0/1
    descendants: Tensor  # (nb, nb) 0/1: [a, b] = 1 when b is a or below it
    dof_body: Tensor  # (nv,) int64: the body each dof moves directly (the base for its 6)
    dof_lower: Tensor  # (nv, nv) 0/1: [k, l] = 1 when dof l moves dof k's body
    dof_strict: Tensor  # (nv, nv) 0/1: dof_lower without the pairs of one body
    damping: Tensor  # (nv,) (0 for the base dofs)
    armature: Tensor  # (nv,)
    foot_body: Tensor  # (nf,) int64
    foot_pos: Tensor  # (nf, 3)
    foot_radius: Tensor  # (nf,)
    kp: Tensor  # (nh,)
    kv: Tensor  # (nh,)
    force_limit: Tensor  # (nh,)
    gravity: Tensor  # (3,)

    @classmethod
    def build(cls, m: ArticulatedModel, dtype: torch.dtype, device: torch.device) -> ModelTensors:
        from ..rotations import quat_to_rotmat

        def t(x):
            return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=dtype, device=device)

        def i64(x):
            return torch.as_tensor(np.asarray(x, dtype=np.int64), device=device)

        def parent_index(k: int, a: int, b: int):
            # A view where possible: a level under a single body broadcasts against it, a level
            # whose bodies hang one each from the previous level's (legs) lines up with it.
            idx = m.parent[a:b] - m.levels[k][0]
            prev = m.levels[k][1] - m.levels[k][0]
            return slice(None) if prev == 1 or np.array_equal(idx, np.arange(prev)) else i64(idx)

        level_parent = tuple(parent_index(k, a, b) for k, (a, b) in enumerate(m.levels[1:]))
        body_of_joint = np.asarray(m.joint_body) - 1
        hinge_of_body = np.empty(m.nh, dtype=np.int64)
        hinge_of_body[body_of_joint] = np.arange(m.nh)
        zeros6 = np.zeros(6)
        anc = m.ancestors()
        dof_body = np.concatenate([np.zeros(6, dtype=np.int64), np.asarray(m.joint_body)])
        lower = anc[dof_body]
        desc = np.zeros((m.nb, m.nb))
        for b in range(m.nb):
            a = b
            while a >= 0:
                desc[a, b] = 1.0
                a = int(m.parent[a])
        axis = m.joint_axis[hinge_of_body]
        k = np.zeros((m.nh, 3, 3))
        k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
        k = k - k.transpose(0, 2, 1)
        return cls(
            dtype=dtype, device=device, levels=m.levels, level_parent=level_parent,
            body_pos=t(m.body_pos), body_rot=quat_to_rotmat(t(m.body_quat)), mass=t(m.mass), com=t(m.com),
            inertia=t(m.inertia), hinge_axis=t(axis), hinge_k=t(k), hinge_k2=t(k @ k), eye3=t(np.eye(3)),
            hinge_of_body=i64(hinge_of_body),
            body_of_hinge=i64(body_of_joint), parent_of_hinge=i64(m.parent[m.joint_body]),
            ancestors=t(anc), descendants=t(desc), dof_body=i64(dof_body), dof_lower=t(lower),
            dof_strict=t(lower * (1 - lower.T)), damping=t(np.concatenate([zeros6, m.damping])),
            armature=t(np.concatenate([zeros6, m.armature])), foot_body=i64(m.foot_body), foot_pos=t(m.foot_pos),
            foot_radius=t(m.foot_radius), kp=t(m.kp), kv=t(m.kv), force_limit=t(m.force_limit), gravity=t(m.gravity))
