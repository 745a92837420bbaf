"""The engine against C MuJoCo on ANYmal C, as numbers (the tests assert bounds; this prints
what they are): float64 errors of the mass matrix, bias forces and joint accelerations at
random states, and the standing height of both engines after 2 s and 5.5 s from the
standing keyframe under PD on flat ground; also the feet's sink into the soft ground and the
trot reference's foot lift.

    python benchmarks/quadruped_vs_mujoco.py --out benchmarks/results/quadruped_vs_mujoco

Needs the ``mujoco`` package (the ``test`` extra). MuJoCo runs with joint limits and joint
friction loss disabled for the algebra (the engine models neither), as the Menagerie file
has them for standing.
"""

from __future__ import annotations

import argparse
import json
import os

import mujoco
import numpy as np
import torch
from timing import machine

import diffenvs  # noqa: F401  (registers the ids)
from diffenvs.articulated import ContactParams, actuator_forces, dynamics, euler_step, forward_dynamics, load_mjcf
from diffenvs.robots.quadruped import ANYMAL_C_XML

F64 = torch.float64


def algebra(model, states: int) -> dict[str, float]:
    """Largest absolute errors over ``states`` random states (and their reference magnitudes)."""
    m = mujoco.MjModel.from_xml_path(ANYMAL_C_XML)
    m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_LIMIT | mujoco.mjtDisableBit.mjDSBL_FRICTIONLOSS
    d = mujoco.MjData(m)
    mt = model.tensors(F64)
    rng = np.random.default_rng(0)
    err = {"mass matrix": 0.0, "bias forces": 0.0, "qacc": 0.0}
    size = dict.fromkeys(err, 0.0)
    for _ in range(states):
        qpos = model.qpos0() + np.concatenate([rng.normal(size=3), np.zeros(4), 0.6 * rng.normal(size=model.nh)])
        q = rng.normal(size=4)
        qpos[3:7] = q / np.linalg.norm(q)
        qvel, ctrl = rng.normal(size=model.nv), 0.3 * rng.normal(size=model.nh)
        d.qpos[:], d.qvel[:], d.ctrl[:] = qpos, qvel, ctrl
        mujoco.mj_forward(m, d)
        full = np.zeros((model.nv, model.nv))
        mujoco.mj_fullM(m, d, full)
        tq, tv, tc = (torch.tensor(x, dtype=F64).unsqueeze(0) for x in (qpos, qvel, ctrl))
        dyn = dynamics(mt, tq, tv)
        acc = forward_dynamics(mt, tq, tv, actuator_forces(mt, tq, tv, tc, width=0.0)).qacc
        for key, ours, ref in (("mass matrix", dyn.mass, full), ("bias forces", dyn.bias, d.qfrc_bias),
                               ("qacc", acc, d.qacc)):
            err[key] = max(err[key], float(np.abs(ours[0].numpy() - ref).max()))
            size[key] = max(size[key], float(np.abs(ref).max()))
    return {k: (err[k], size[k]) for k in err}


def standing(model, times: tuple[float, ...], contact: ContactParams, dt: float = 0.002) -> list[dict]:
    xml = open(ANYMAL_C_XML).read().replace("<worldbody>", '<worldbody><geom type="plane" size="0 0 1"/>')
    m = mujoco.MjModel.from_xml_string(xml)
    m.opt.timestep = dt
    d = mujoco.MjData(m)
    key = m.key("standing").id
    mujoco.mj_resetDataKeyframe(m, d, key)
    d.ctrl[:] = m.key_qpos[key][7:]
    mt = model.tensors(F64)
    stand = torch.tensor(model.keyframes["standing"], dtype=F64).unsqueeze(0)
    qp, qv, anchor, rows, steps = stand.clone(), torch.zeros(1, model.nv, dtype=F64), None, [], 0
    with torch.no_grad():
        for t in times:
            while steps * dt < t - 1e-9:
                mujoco.mj_step(m, d)
                tau = actuator_forces(mt, qp, qv, stand[:, 7:])
                qp, qv, acc = euler_step(mt, qp, qv, dt, tau, contact, anchor)
                anchor, steps = acc.anchor, steps + 1
            sink = float((mt.foot_radius - acc.foot_pos[0, :, 2]).mean())
            shear = float(acc.foot_force[0, :, :2].norm(dim=-1).mean())
            rows.append({"t": t, "mujoco": float(d.qpos[2]), "engine": float(qp[0, 2]), "foot sink": sink,
                         "foot shear": shear})
    return rows


def reference_lift() -> float:
    """Peak rise of a foot over the trot reference's swing (the reference's joint angles in
    the nominal pose), m."""
    import gymnasium as gym

    env = gym.make_vec("DiffQuadruped-Trot-v0", num_envs=1, dtype=F64).unwrapped
    env.reset(seed=0)
    task, robot = env.task, env.robot
    nominal = robot.at_rest(1)
    nominal["joint_pos"] = robot.nominal.unsqueeze(0)
    base = robot.feet(nominal)[0, :, 2]
    lift = 0.0
    for k in range(round(1.0 / (task.cfg.gait.frequency * env.dt))):
        pose = dict(nominal)
        pose["joint_pos"] = robot.nominal.unsqueeze(0) + task.reference(task.phases(env.get_state(), step_offset=k))
        lift = max(lift, float((robot.feet(pose)[0, :, 2] - base).max()))
    return lift


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=8)
    parser.add_argument("--tangential-stiffness", type=float, default=ContactParams.tangential_stiffness,
                        help="the friction anchor's spring, N/m (the default's)")
    parser.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    args = parser.parse_args(argv)
    model = load_mjcf(ANYMAL_C_XML)
    alg = algebra(model, args.states)
    stand = standing(model, (2.0, 5.5), ContactParams(tangential_stiffness=args.tangential_stiffness))
    lift = reference_lift()
    lines = [f"ANYmal C, float64, MuJoCo {mujoco.__version__} (joint limits and friction loss off for the algebra)", "",
             "| quantity | largest error | largest magnitude |", "|---|---|---|"]
    lines += [f"| {k} ({args.states} random states) | {e:.1e} | {s:.3g} |" for k, (e, s) in alg.items()]
    lines += ["", f"Standing (friction anchor spring {args.tangential_stiffness:g} N/m):", "",
              "| standing from the keyframe, t | MuJoCo base height, m | engine base height, m | difference, mm | "
              "engine foot sink, mm | engine tangential force per foot, N |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['t']:g} s | {r['mujoco']:.4f} | {r['engine']:.4f} | {1e3 * (r['engine'] - r['mujoco']):+.1f} | "
              f"{1e3 * r['foot sink']:.1f} | {r['foot shear']:.1f} |" for r in stand]
    lines += ["", f"The trot reference lifts a foot by up to {100 * lift:.1f} cm."]
    text = "\n".join(lines)
    print(text)
    out = {"machine": machine(), "algebra": alg, "standing": stand, "reference_lift": lift}
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out + ".json", "w") as fh:
            json.dump(out, fh, indent=1)
        with open(args.out + ".md", "w") as fh:
            fh.write(text + "\n")
    return out


if __name__ == "__main__":
    main()
