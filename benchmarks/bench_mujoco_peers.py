"""Side by side: a diffenvs robot against C MuJoCo stepping the same robot.

``--robot quadruped`` (default): ANYmal C. Every rate is robots x 50 Hz control steps per second.
A control step is 10 physics steps of 2 ms in both: diffenvs' ``DiffQuadruped-Walk-v0`` (its
articulated-body engine, semi-implicit Euler, soft foot contact, PD torques; float32) and MuJoCo
(the Menagerie model with a ground plane, ``timestep`` 0.002, its Euler integrator and its
contact solver, position actuators; float64), every robot standing from the ``standing`` keyframe
and commanded to hold it.

``--robot pointmass``: the point mass of ``DiffPointMass-Reach-v0`` (one 0.05 s semi-implicit
Euler step per control step) and the same body in MuJoCo (:func:`pointmass_xml`: two slide
joints, a motor per axis whose velocity bias is the damping, MuJoCo's Euler integrator, which
is semi-implicit and treats actuator forces explicitly, so its steps are ours:
``tests/test_pointmass_vs_mujoco.py``), at a constant command of 0.3 on both axes. Columns:

* ``diffenvs step()``: the Gymnasium step of ``gym.make_vec`` (numpy in and out);
* ``diffenvs fwd``: ``step_differentiable`` without gradients (tensors in and out);
* ``diffenvs fwd+bwd``: an 8-step differentiable unroll and its backward, per control step (each
  unroll from the same start state, put back with ``set_state``);
* ``mujoco rollout``: ``mujoco.rollout.rollout`` (C, its own thread pool with as many threads as
  torch uses) stepping ``N`` independent copies of the model for one control step per call;
  MuJoCo has no gradients, so it has no fwd+bwd column.

The two are measured interleaved (each round: every N for both), and the table gives the
median over rounds and the ratio ours / MuJoCo. Needs ``mujoco`` (the ``test`` or ``mujoco`` extra).

    python benchmarks/bench_mujoco_peers.py --json benchmarks/results/bench_quadruped_peers_cpu.json
    python benchmarks/bench_mujoco_peers.py --robot pointmass --json benchmarks/results/bench_pointmass_peers_cpu.json
    python benchmarks/bench_mujoco_peers.py --quick          # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import statistics

import gymnasium as gym
import numpy as np
import torch
from timing import machine, rate, save

import diffenvs  # noqa: F401  (registers the ids)
from diffenvs.robots.pointmass import PointMassConfig
from diffenvs.robots.quadruped import ANYMAL_C_XML


def pointmass_xml(cfg: PointMassConfig | None = None, dt: float = 0.05) -> str:
    """The point mass as MJCF: unit mass on x and y slide joints; per axis a motor of gear
    ``max_accel`` whose bias ``-damping / gear^2`` times the actuator velocity (``gear * v``) gives
    the joint force ``max_accel * u - damping * v``."""
    cfg = cfg or PointMassConfig()
    motor = (f'gear="{cfg.max_accel!r}" ctrlrange="-1 1" ctrllimited="true" biastype="affine" '
             f'biasprm="0 0 {-cfg.damping / cfg.max_accel ** 2!r}"')
    return (f'<mujoco><option timestep="{dt!r}" integrator="Euler" gravity="0 0 0"/><worldbody><body name="mass">'
            '<joint name="x" type="slide" axis="1 0 0"/><joint name="y" type="slide" axis="0 1 0"/>'
            '<geom type="sphere" size="0.05" mass="1" contype="0" conaffinity="0"/></body></worldbody>'
            f'<actuator><general joint="x" {motor}/><general joint="y" {motor}/></actuator></mujoco>')


#: Per robot: the env id, physics steps per control step, MuJoCo's model, its start (a keyframe
#: name or None for qpos 0) and the constant command both hold.
ROBOTS = {
    "quadruped": dict(env="DiffQuadruped-Walk-v0", substeps=10, dt=0.002,
                      xml=lambda: open(ANYMAL_C_XML).read().replace(
                          "<worldbody>", '<worldbody><geom type="plane" size="0 0 1"/>'),
                      key="standing", hold=0.0),
    "pointmass": dict(env="DiffPointMass-Reach-v0", substeps=1, dt=0.05, xml=pointmass_xml, key=None, hold=0.3),
}


def diffenvs_rates(robot: dict, n: int, min_time: float, horizon: int) -> dict[str, float]:
    env = gym.make_vec(robot["env"], num_envs=n)
    env.reset(seed=0)
    hold = torch.full((n, env.action_dim), robot["hold"], dtype=env.dtype)  # quadruped: holds the nominal pose
    hold_np = hold.numpy()

    def fwd():
        with torch.no_grad():
            env.step_differentiable(hold)

    start = {k: v.detach().clone() for k, v in env.get_state().items()}

    def fwd_bwd():
        acts = hold.clone().requires_grad_(True)
        total = 0
        for _ in range(horizon):
            total = total + env.step_differentiable(acts)[1].sum()
        total.backward()
        # back to the start (as state replay does; reset(seed=0) would also refill the env's pool
        # of episode starts, about 9 ms at N = 64, which is not the step's cost)
        env.set_state(start)

    return {"diffenvs step()": rate(lambda: env.step(hold_np), n, min_time),
            "diffenvs fwd": rate(fwd, n, min_time),
            "diffenvs fwd+bwd": rate(fwd_bwd, n * horizon, min_time)}


class MuJoCoBatch:
    """``n`` copies of a robot's MuJoCo model from its start, stepped with ``mujoco.rollout``."""

    def __init__(self, robot: dict, n: int, threads: int):
        import mujoco
        from mujoco import rollout

        self.model = mujoco.MjModel.from_xml_string(robot["xml"]())
        self.model.opt.timestep = robot["dt"]
        data = mujoco.MjData(self.model)
        if robot["key"] is None:
            control = np.full(self.model.nu, robot["hold"])
        else:
            key = self.model.key(robot["key"]).id
            mujoco.mj_resetDataKeyframe(self.model, data, key)
            control = self.model.key_qpos[key][7:]  # position actuators holding the keyframe's joints
        spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        state = np.zeros(mujoco.mj_stateSize(self.model, spec))
        mujoco.mj_getState(self.model, data, state, spec)
        self.state = np.tile(state, (n, 1))
        self.control = np.tile(control, (n, robot["substeps"], 1))
        self.datas = [mujoco.MjData(self.model) for _ in range(threads)]
        self.rollout = rollout.Rollout(nthread=threads) if threads > 1 else None
        self._rollout_fn = rollout.rollout

    def step(self) -> None:
        """One control step (the robot's physics substeps) of every copy; the states carry on."""
        if self.rollout is not None:
            out, _ = self.rollout.rollout(self.model, self.datas, self.state, self.control)
        else:
            out, _ = self._rollout_fn(self.model, self.datas[0], self.state, self.control)
        self.state = out[:, -1]

    def height(self) -> float:
        """Mean over copies of qpos[2] (FULLPHYSICS state: time, then qpos): the quadruped's base height."""
        return float(self.state[:, 1 + 2].mean())


BACKWARD = "fwd+bwd / fwd"  # the forward+backward rate over the forward rate


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robot", choices=sorted(ROBOTS), default="quadruped")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per timed run")
    parser.add_argument("--horizon", type=int, default=8, help="steps of the fwd+bwd unroll")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (MuJoCo gets as many)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes and times (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds, args.min_time, args.horizon = [1, 4], 1, 0.02, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    threads, robot = torch.get_num_threads(), ROBOTS[args.robot]
    runs: dict[int, dict[str, list[float]]] = {n: {} for n in args.sizes}
    heights = {}
    for _ in range(args.rounds):
        for n in args.sizes:
            for key, value in diffenvs_rates(robot, n, args.min_time, args.horizon).items():
                runs[n].setdefault(key, []).append(value)
            try:
                batch = MuJoCoBatch(robot, n, threads)
            except ImportError:
                continue
            runs[n].setdefault("mujoco rollout", []).append(rate(batch.step, n, args.min_time))
            if args.robot == "quadruped":
                heights[n] = batch.height()
    for cols in runs.values():  # the backward's cost, round by round (forward and backward measured together)
        cols[BACKWARD] = [b / f for b, f in zip(cols["diffenvs fwd+bwd"], cols["diffenvs fwd"])]
    rows = [{"N": n, **{k: statistics.median(v) for k, v in cols.items()}} for n, cols in runs.items()]
    cols = ["diffenvs step()", "diffenvs fwd", "diffenvs fwd+bwd", "mujoco rollout"]
    lines = ["| N | " + " | ".join(cols) + " | diffenvs step() / mujoco | diffenvs fwd / mujoco "
             f"| {BACKWARD} (rounds' min–max) |", "|---|" + "---|" * (len(cols) + 3)]
    for row in rows:
        mj = row.get("mujoco rollout")
        ratios = [f"{row[c] / mj:.2f}" if mj else "-" for c in ("diffenvs step()", "diffenvs fwd")]
        spread = runs[row["N"]][BACKWARD]
        lines.append(f"| {row['N']} | " + " | ".join(f"{row[c]:.3g}" if c in row else "-" for c in cols)
                     + " | " + " | ".join(ratios) + f" | {row[BACKWARD]:.3f} ({min(spread):.3f}–{max(spread):.3f}) |")
    table = "\n".join(lines)
    print(f"{args.robot}: robots x control steps per second, {threads} threads, median of {args.rounds} rounds")
    print(table)
    if heights:
        print("MuJoCo base height after the timed steps (m, mean over robots): "
              + ", ".join(f"N = {n}: {h:.3f}" for n, h in heights.items()))
    out = {"machine": machine(), "robot": args.robot, "threads": threads, "rounds": args.rounds, "rows": rows,
           "per_round": {str(n): cols for n, cols in runs.items()}, "mujoco_height": heights}
    save(args.json, out, table)
    return out


if __name__ == "__main__":
    main()
