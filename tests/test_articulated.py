"""The articulated-body engine against C MuJoCo (float64) and against itself (gradients, invariants)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch

from diffenvs.articulated import (
    ContactParams,
    actuator_forces,
    dynamics,
    euler_step,
    forward_dynamics,
    integrate_positions,
    kinematics,
    load_mjcf,
)
from diffenvs.robots.quadruped import ANYMAL_C_XML

F64 = torch.float64


@pytest.fixture(scope="module")
def model():
    return load_mjcf(ANYMAL_C_XML)


def random_states(model, n, seed=0, speed=1.0):
    rng = np.random.default_rng(seed)
    qpos = np.tile(model.qpos0(), (n, 1))
    qpos[:, :3] += rng.normal(size=(n, 3))
    q = rng.normal(size=(n, 4))
    qpos[:, 3:7] = q / np.linalg.norm(q, axis=1, keepdims=True)
    qpos[:, 7:] = rng.normal(size=(n, model.nh)) * 0.6
    return qpos, rng.normal(size=(n, model.nv)) * speed


def test_loader_reads_the_model(model):
    assert (model.nb, model.nh, model.nq, model.nv, model.nf) == (13, 12, 19, 18, 4)
    assert model.total_mass == pytest.approx(44.96518)
    assert model.levels == ((0, 1), (1, 5), (5, 9), (9, 13))
    assert model.joint_names[:3] == ("LF_HAA", "LF_HFE", "LF_KFE")
    assert np.all(model.kp == 100) and np.all(model.force_limit == 80) and np.all(model.damping == 1)
    assert np.allclose(model.foot_radius, 0.03)
    assert model.keyframes["standing"][2] == pytest.approx(0.56)
    assert os.path.exists(os.path.join(os.path.dirname(ANYMAL_C_XML), "LICENSE"))


def test_loader_errors_name_the_problem(tmp_path):
    bad = tmp_path / "two_roots.xml"
    bad.write_text("<mujoco><worldbody><body><inertial mass='1' diaginertia='1 1 1'/><freejoint/></body>"
                   "<body><inertial mass='1' diaginertia='1 1 1'/><freejoint/></body></worldbody></mujoco>")
    with pytest.raises(ValueError, match="exactly one root body"):
        load_mjcf(str(bad))
    slide = tmp_path / "slide.xml"
    slide.write_text("<mujoco><worldbody><body><inertial mass='1' diaginertia='1 1 1'/><freejoint/>"
                     "<body><inertial mass='1' diaginertia='1 1 1'/><joint type='slide'/></body></body>"
                     "</worldbody></mujoco>")
    with pytest.raises(ValueError, match="not supported"):
        load_mjcf(str(slide))


mujoco = pytest.importorskip("mujoco")


@pytest.fixture(scope="module")
def oracle():
    """C MuJoCo on the same file, without the two constraints the engine does not model
    (joint range limits and dry joint friction) and without a floor."""
    m = mujoco.MjModel.from_xml_path(ANYMAL_C_XML)
    m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_LIMIT | mujoco.mjtDisableBit.mjDSBL_FRICTIONLOSS
    return m


def test_kinematics_mass_matrix_bias_and_acceleration_match_mujoco(model, oracle):
    mt = model.tensors(F64)
    d = mujoco.MjData(oracle)
    qpos, qvel = random_states(model, 8)
    ctrl = np.random.default_rng(1).normal(size=(8, model.nh)) * 0.3
    tq, tv, tc = (torch.tensor(x, dtype=F64) for x in (qpos, qvel, ctrl))
    dyn = dynamics(mt, tq, tv)
    tau = actuator_forces(mt, tq, tv, tc, width=0.0)  # MuJoCo's hard forcerange
    acc = forward_dynamics(mt, tq, tv, tau).qacc
    for i in range(8):
        d.qpos[:], d.qvel[:], d.ctrl[:] = qpos[i], qvel[i], ctrl[i]
        mujoco.mj_forward(oracle, d)
        full = np.zeros((model.nv, model.nv))
        mujoco.mj_fullM(oracle, d, full)
        xpos = np.stack([d.body(n).xpos for n in model.body_names])
        xmat = np.stack([d.body(n).xmat.reshape(3, 3) for n in model.body_names])
        np.testing.assert_allclose(dyn.kin.pos[i].numpy(), xpos, rtol=0, atol=1e-12)
        np.testing.assert_allclose(dyn.kin.rot[i].numpy(), xmat, rtol=0, atol=1e-12)
        np.testing.assert_allclose(dyn.mass[i].numpy(), full, rtol=0, atol=1e-10)
        np.testing.assert_allclose(dyn.bias[i].numpy(), d.qfrc_bias, rtol=0, atol=1e-10)
        np.testing.assert_allclose(tau[i].numpy(), d.actuator_force, rtol=0, atol=1e-12)
        np.testing.assert_allclose(acc[i].numpy(), d.qacc, rtol=1e-10, atol=1e-9)


def test_euler_steps_match_mujoco_without_contact(model, oracle):
    """Semi-implicit Euler with implicit joint damping, as mj_step's Euler integrator."""
    mt = model.tensors(F64)
    d = mujoco.MjData(oracle)
    oracle.opt.timestep = 0.002
    qpos, qvel = random_states(model, 1, seed=3, speed=0.3)
    ctrl = model.keyframes["standing"][7:]
    d.qpos[:], d.qvel[:], d.ctrl[:] = qpos[0], qvel[0], ctrl
    tq, tv = torch.tensor(qpos, dtype=F64), torch.tensor(qvel, dtype=F64)
    target = torch.tensor(ctrl, dtype=F64).unsqueeze(0)
    for _ in range(20):
        mujoco.mj_step(oracle, d)
        tq, tv, _ = euler_step(mt, tq, tv, 0.002, actuator_forces(mt, tq, tv, target, width=0.0))
    np.testing.assert_allclose(tq[0].numpy(), d.qpos, rtol=0, atol=1e-10)
    np.testing.assert_allclose(tv[0].numpy(), d.qvel, rtol=0, atol=1e-8)


def test_free_fall_and_energy(model):
    """No contact, no torque: the centre of mass falls at g whatever the joints do, and
    without damping the total energy is conserved (to the integrator's accuracy)."""
    mt = model.tensors(F64)
    qpos, qvel = random_states(model, 4, seed=5, speed=0.5)
    tq, tv = torch.tensor(qpos, dtype=F64), torch.tensor(qvel, dtype=F64)
    qacc = forward_dynamics(mt, tq, tv).qacc

    def com_along(t):  # the centre of mass along q(t) = q + v t + a t^2 / 2 (second order)
        return _com(mt, integrate_positions(tq, tv + 0.5 * t * qacc, t))

    h = 1e-4
    com_acc = (com_along(h) - 2 * com_along(0.0) + com_along(-h)) / h**2
    np.testing.assert_allclose(com_acc.numpy(), np.tile([0.0, 0.0, -9.81], (4, 1)), rtol=0, atol=1e-5)
    undamped = dataclasses.replace(mt, damping=torch.zeros_like(mt.damping))
    energy0 = _energy(undamped, tq, tv)
    scale = 0.5 * torch.einsum("nk,nkl,nl->n", tv, dynamics(mt, tq, tv).mass, tv) + mt.mass.sum() * 9.81
    for _ in range(500):  # 0.5 s at 1 ms
        tq, tv, _ = euler_step(undamped, tq, tv, 1e-3)
    drift = ((_energy(undamped, tq, tv) - energy0).abs() / scale).max()
    assert drift < 5e-3, drift


def _com(mt, qpos):
    kin = kinematics(mt, qpos)
    c = kin.pos + (kin.rot @ mt.com.unsqueeze(-1)).squeeze(-1)
    return (mt.mass.unsqueeze(-1) * c).sum(1) / mt.mass.sum()


def _energy(mt, qpos, qvel):
    mass = dynamics(mt, qpos, qvel).mass
    kinetic = 0.5 * torch.einsum("nk,nkl,nl->n", qvel, mass, qvel)
    return kinetic - mt.mass.sum() * (mt.gravity * _com(mt, qpos)).sum(-1)


def test_contact_gradients_match_finite_differences(model):
    """Autograd through rollouts of 4, 8 and 16 control steps (20 ms, 10 substeps) standing
    on the ground under PD with jittered targets (feet loaded, pushing and rolling):
    d(final base height and forward speed)/d(PD targets) against central differences in
    float64."""
    mt = model.tensors(F64)
    contact = ContactParams()
    stand = torch.tensor(model.keyframes["standing"], dtype=F64)
    qpos0 = stand.clone()
    qpos0[2] = 0.53  # feet 17 mm into the soft ground: loaded contacts from the start
    rng = np.random.default_rng(7)
    for steps in (4, 8, 16):
        offsets = torch.tensor(rng.normal(size=(steps, model.nh)) * 0.03, dtype=F64, requires_grad=True)

        def loss(off, steps=steps):
            qp, qv, anchor = qpos0.unsqueeze(0), torch.zeros(1, model.nv, dtype=F64), None
            for k in range(steps):
                target = (stand[7:] + off[k]).unsqueeze(0)
                for _ in range(10):
                    qp, qv, acc = euler_step(mt, qp, qv, 0.002, actuator_forces(mt, qp, qv, target), contact, anchor)
                    anchor = acc.anchor
            return qp[0, 2] + 0.3 * qv[0, 0]

        (grad,) = torch.autograd.grad(loss(offsets), offsets)
        eps = 1e-6
        with torch.no_grad():
            for k, j in [(0, 1), (steps // 2, 5), (steps - 1, 11)]:
                e = torch.zeros_like(offsets)
                e[k, j] = eps
                fd = (loss(offsets + e) - loss(offsets - e)) / (2 * eps)
                assert float(fd) == pytest.approx(float(grad[k, j]), rel=1e-6, abs=1e-9), (steps, k, j)
        assert grad.abs().max() > 1e-3  # the targets do move the robot


def test_standing_height_matches_mujoco(model):
    """From the standing keyframe under PD on flat ground, 2 s later: the base height within
    a few millimetres of C MuJoCo's (its soft foot contact, floor added, default solver)."""
    xml = open(ANYMAL_C_XML).read().replace("<worldbody>", '<worldbody><geom type="plane" size="0 0 1"/>')
    m = mujoco.MjModel.from_xml_string(xml)
    m.opt.timestep = 0.002
    d = mujoco.MjData(m)
    key = m.key("standing").id
    mujoco.mj_resetDataKeyframe(m, d, key)
    d.ctrl[:] = m.key_qpos[key][7:]
    mt = model.tensors(F64)
    stand = torch.tensor(model.keyframes["standing"], dtype=F64).unsqueeze(0)
    qp, qv, anchor = stand.clone(), torch.zeros(1, model.nv, dtype=F64), None
    for _ in range(1000):
        mujoco.mj_step(m, d)
        qp, qv, acc = euler_step(mt, qp, qv, 0.002, actuator_forces(mt, qp, qv, stand[:, 7:]), ContactParams(),
                                 anchor)
        anchor = acc.anchor
    # measured: 2.9 mm (benchmarks/quadruped_vs_mujoco.py)
    assert abs(float(qp[0, 2]) - d.qpos[2]) < 6e-3, (float(qp[0, 2]), d.qpos[2])
    assert float(qv.abs().max()) < 0.02  # at rest
    np.testing.assert_allclose(acc.foot_force[0, :, 2].sum().item(), model.total_mass * 9.81, rtol=0.02)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_float32_batched_and_devices_agree(model, device):
    """A batch of 3 robots landing on the ground with different targets: each row equals
    its single-env run (float64), and float32 (on ``device``) follows float64 over the
    first 50 ms (later, landing's sensitivity amplifies the rounding differences)."""
    contact = ContactParams()
    stand = torch.tensor(model.keyframes["standing"], dtype=F64)
    targets = stand[7:] + torch.tensor(np.random.default_rng(2).normal(size=(3, model.nh)) * 0.05)

    def run(rows, dtype, dev, substeps=25):
        mt = model.tensors(dtype, dev)
        qp = stand.to(dtype=dtype, device=dev).expand(len(rows), -1).clone()
        qv = torch.zeros(len(rows), model.nv, dtype=dtype, device=dev)
        tg, anchor = targets[rows].to(dtype=dtype, device=dev), None
        for _ in range(substeps):
            qp, qv, acc = euler_step(mt, qp, qv, 0.002, actuator_forces(mt, qp, qv, tg), contact, anchor)
            anchor = acc.anchor
        return qp.double().cpu()

    batched = run([0, 1, 2], F64, "cpu")
    for i in range(3):
        np.testing.assert_allclose(run([i], F64, "cpu")[0].numpy(), batched[i].numpy(), rtol=0, atol=1e-12)
    low = run([0, 1, 2], torch.float32, device)
    np.testing.assert_allclose(low.numpy(), batched.numpy(), rtol=0, atol=1e-4)


def test_comparison_script_runs(monkeypatch, tmp_path):
    """benchmarks/quadruped_vs_mujoco.py (the numbers of the engine page) runs and agrees with the asserted bounds."""
    import importlib.util
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
    monkeypatch.syspath_prepend(str(root))
    spec = importlib.util.spec_from_file_location("quadruped_vs_mujoco", root / "quadruped_vs_mujoco.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(["--states", "2", "--out", str(tmp_path / "cmp")])
    assert out["algebra"]["mass matrix"][0] < 1e-10 and out["algebra"]["bias forces"][0] < 1e-10
    assert all(abs(r["engine"] - r["mujoco"]) < 6e-3 for r in out["standing"])
    assert (tmp_path / "cmp.md").exists()
