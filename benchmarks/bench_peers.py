"""Side by side: diffenvs against the quadrotor simulators a user would pick instead.

Every rate is drones x 50 Hz control steps per second (one step of ``DiffQuad-Hover-v0`` is
0.02 s), each simulator holding its drones at (or near) hover:

* ``diffenvs step()``: the Gymnasium step of ``gym.make_vec`` (numpy in and out), the default;
* ``diffenvs fwd``: ``step_differentiable`` without gradients (tensors in and out), eager
  and with ``compile=True``;
* ``diffenvs fwd+bwd``: a 96-step differentiable unroll and its backward, per env step;
* ``diffenvs rollout``: ``rollout(actions)`` of 96 steps (a training horizon) in one call
  without gradients, and ``rollout fwd+bwd``, the same 96-step ``rollout`` and its backward;
  with ``compile=True`` these run as compiled chunks of ``rollout_chunk`` (8) steps. The first
  call's compilation time is given in the notes (PyTorch caches it on disk, so later processes compile in seconds);
* ``l2f``: the C++ Learning-to-Fly simulator's vector environment (pybind11); it integrates
  with RK4 at its own 100 Hz, so one 50 Hz step is two of its steps. Its vector sizes are
  powers of two: N = 100 runs its 128-drone batch and N = 16384 two 8192-drone batches
  (rates are per simulated drone);
* ``crazyflow``: the JAX simulator (``jit``-compiled), rotor-velocity control and one 0.02 s
  explicit Euler step per control step (``freq=50``), its first-principles dynamics.

The simulators are measured interleaved: in each round, every simulator at every N in
turn; the table gives the median over rounds and the ratios ours / theirs. Peers that
are not installed are skipped with a note (``pip install -e ".[peers]"``).

    python benchmarks/bench_peers.py --json benchmarks/results/bench_peers_cpu.json
    python benchmarks/bench_peers.py --sizes 1 100 --rounds 2 --min-time 0.3
    python benchmarks/bench_peers.py --quick          # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import torch
from timing import machine, rate, save

import diffenvs  # noqa: F401  (registers the ids)

ENV_ID = "DiffQuad-Hover-v0"
HORIZON = 96
ROLLOUT = HORIZON  # steps per forward rollout() call (16 before 2026-12-03: at one drone the
# call's fixed ~0.15 ms then weighed six times more)


# ----------------------------------------------------------------------------- diffenvs
class Ours:
    """diffenvs at batch size ``n``: ``step()``, ``fwd`` and ``fwd+bwd`` (eager or compiled)."""

    def __init__(self, n: int, compile: bool):
        self.env = gym.make_vec(ENV_ID, num_envs=n, compile=compile)
        self.env.reset(seed=0)
        self.n, self.compile = n, compile
        self.a = torch.full((n, self.env.action_dim), self.env.robot.vehicle.hover_action, dtype=self.env.dtype)
        self.a_np = self.a.numpy().astype(np.float32)
        self.acts = self.a.expand(HORIZON, *self.a.shape).clone().requires_grad_()
        self.roll = self.a.expand(ROLLOUT, *self.a.shape).contiguous()
        t0 = time.perf_counter()
        with torch.no_grad():
            self.env.rollout(self.roll)
        self.env.rollout(self.acts)[1].sum().backward()
        self.first_rollout_s = time.perf_counter() - t0  # compilation, when compiled

    def measures(self, min_time: float) -> dict[str, float]:
        env, steps = self.env, 20
        tag = "compiled " if self.compile else ""

        def numpy_step():
            for _ in range(steps):
                env.step(self.a_np)

        def fwd():
            with torch.no_grad():
                for _ in range(steps):
                    env.step_differentiable(self.a)

        def fwd_bwd():
            env.detach()
            total = 0.0
            for at in self.acts.unbind(0):
                total = total + env.step_differentiable(at)[1].sum()
            total.backward()

        def rollout():
            with torch.no_grad():
                env.rollout(self.roll)

        def rollout_bwd():
            env.detach()
            env.rollout(self.acts)[1].sum().backward()

        out = {}
        if not self.compile:
            out["diffenvs step()"] = rate(numpy_step, steps * self.n, min_time)
        out[f"diffenvs {tag}fwd"] = rate(fwd, steps * self.n, min_time, warmup=3)
        out[f"diffenvs {tag}fwd+bwd"] = rate(fwd_bwd, HORIZON * self.n, min_time, warmup=2)
        out[f"diffenvs {tag}rollout"] = rate(rollout, ROLLOUT * self.n, min_time)
        out[f"diffenvs {tag}rollout fwd+bwd"] = rate(rollout_bwd, HORIZON * self.n, min_time)
        return out


# ----------------------------------------------------------------------------- l2f
def _l2f_batches(n: int, sizes) -> list[int]:
    """Vector sizes covering ``n`` drones: the smallest power of two >= n, or several of the largest."""
    largest = max(sizes)
    if n > largest:
        return [largest] * -(-n // largest)
    return [min(s for s in sizes if s >= n)]


class L2F:
    """l2f's vector environment(s) for ``n`` drones at a hover action found by bisection."""

    def __init__(self, n: int):
        import l2f

        self.l2f, self.device = l2f, l2f.Device()
        self.batches = []
        for size in _l2f_batches(n, l2f.vector_selector):
            v = l2f.vector_selector[size]
            b = SimpleNamespace(v=v, size=size, rng=v.VectorRng(), env=v.VectorEnvironment(),
                                params=v.VectorParameters(), s0=v.VectorState(), s1=v.VectorState())
            v.initialize_rng(self.device, b.rng, 0)
            v.initialize_environment(self.device, b.env)
            v.initial_parameters(self.device, b.env, b.params)  # the nominal vehicle, not randomised
            self.batches.append(b)
        self.drones = sum(b.size for b in self.batches)
        self.hover = self._hover_action()
        for b in self.batches:
            b.act = np.full((b.size, 4), self.hover, dtype=np.float32)

    def _climb(self, action: float) -> float:
        """Vertical velocity after 2 s from rest with every motor at ``action``."""
        b = self.batches[0]
        b.v.initial_state(self.device, b.env, b.params, b.s0)
        act = np.full((b.size, 4), action, dtype=np.float32)
        for _ in range(100):
            b.v.step(self.device, b.env, b.params, b.s0, act, b.s1, b.rng)
            b.v.step(self.device, b.env, b.params, b.s1, act, b.s0, b.rng)
        return float(b.s0.states[0].linear_velocity[2])

    def _hover_action(self) -> float:
        lo, hi = -1.0, 1.0
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if self._climb(mid) > 0 else (mid, hi)
        return 0.5 * (lo + hi)

    def measures(self, min_time: float) -> dict[str, float]:
        for b in self.batches:
            b.v.initial_state(self.device, b.env, b.params, b.s0)
        steps = 20

        def run():
            for _ in range(steps):
                for b in self.batches:
                    b.v.step(self.device, b.env, b.params, b.s0, b.act, b.s1, b.rng)  # two 100 Hz RK4 steps
                    b.v.step(self.device, b.env, b.params, b.s1, b.act, b.s0, b.rng)

        return {"l2f": rate(run, steps * self.drones, min_time)}


# ----------------------------------------------------------------------------- crazyflow
class Crazyflow:
    """crazyflow with ``n`` worlds of one drone, one 0.02 s Euler step per control step."""

    def __init__(self, n: int):
        import jax.numpy as jnp
        from crazyflow.sim import Sim

        self.sim = Sim(n_worlds=n, n_drones=1, control="rotor_vel", freq=50, integrator="euler", device="cpu")
        self.n, self.jnp = n, jnp
        self.cmd = jnp.full((n, 1, 4), self._hover_command(), dtype=jnp.float32)

    def _climb(self, command: float) -> float:
        """Vertical velocity after 2 s from the start with every rotor at ``command``."""
        self.sim.reset()
        cmd = self.jnp.full((self.n, 1, 4), command, dtype=self.jnp.float32)
        for _ in range(100):  # 2 s
            self.sim.rotor_vel_control(cmd)
            self.sim.step(1)
        return float(self.sim.data.states.vel[0, 0, 2])

    def _hover_command(self) -> float:
        lo, hi = 0.0, 1.0
        while self._climb(hi) <= 0:  # find a climbing command first (units are the model's)
            lo, hi = hi, 2 * hi
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if self._climb(mid) > 0 else (mid, hi)
        return 0.5 * (lo + hi)

    def measures(self, min_time: float) -> dict[str, float]:
        self.sim.reset()
        steps, sim = 20, self.sim

        def run():
            for _ in range(steps):
                sim.rotor_vel_control(self.cmd)
                sim.step(1)

        def sync():
            sim.data.states.pos.block_until_ready()

        return {"crazyflow": rate(run, steps * self.n, min_time, sync=sync)}


# ----------------------------------------------------------------------------- main
PEERS = {"l2f": L2F, "crazyflow": Crazyflow}


def build(n: int, compile: bool, peers: list[str]) -> tuple[list, list[str]]:
    sims, notes = [Ours(n, compile=False)], []
    if compile:
        sims.append(Ours(n, compile=True))
    for name in peers:
        try:
            sims.append(PEERS[name](n))
        except ImportError as err:
            notes.append(f"{name} skipped ({err}); pip install -e '.[peers]'")
    return sims, notes


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 1024, 16384])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median reported)")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per timed run")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--no-compile", action="store_true", help="skip diffenvs compile=True")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and times (smoke test)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.sizes, args.rounds, args.min_time, args.no_compile = [4], 1, 0.02, True
    sims, notes, samples = {}, [], {}
    for n in args.sizes:
        sims[n], more = build(n, not args.no_compile, args.peers)
        notes += [m for m in more if m not in notes]
        notes += [f"N = {n}: first rollout() calls (fwd and fwd+bwd) took {sim.first_rollout_s:.1f} s"
                  f"{' (compilation)' if sim.compile else ''}" for sim in sims[n] if isinstance(sim, Ours)]
    for _ in range(args.rounds):
        for n in args.sizes:
            for sim in sims[n]:
                for key, value in sim.measures(args.min_time).items():
                    samples.setdefault((n, key), []).append(value)
    keys = list(dict.fromkeys(k for _, k in samples))
    rows = [{"N": n, **{k: statistics.median(samples[n, k]) for k in keys if (n, k) in samples}} for n in args.sizes]
    ours = [k for k in keys if k.startswith("diffenvs") and "bwd" not in k]
    theirs = [k for k in keys if not k.startswith("diffenvs")]
    lines = [f"drones x 50 Hz steps per second (median of {args.rounds} interleaved rounds); {machine()}", "",
             "| N | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    lines += ["| " + " | ".join([str(r["N"])] + [f"{r[k]:.3g}" if k in r else "–" for k in keys]) + " |" for r in rows]
    if theirs:
        def spread(n: int, a: str, b: str) -> str:  # the ratio within each round, its smallest and largest
            per_round = [x / y for x, y in zip(samples[n, a], samples[n, b])] if (n, b) in samples else []
            return f" ({min(per_round):.2f}–{max(per_round):.2f})" if len(per_round) > 1 else ""

        lines += ["", "ratios ours / theirs (of the medians; in brackets the rounds' own ratios, smallest–largest):",
                  "", "| N | " + " | ".join(f"{a} / {b}" for a in ours for b in theirs)
                  + " |", "|---|" + "---|" * (len(ours) * len(theirs))]
        lines += ["| " + " | ".join([str(r["N"])] + [f"{r[a] / r[b]:.2f}{spread(r['N'], a, b)}" if b in r else "–"
                                                     for a in ours for b in theirs]) + " |" for r in rows]
    pairs = [(k, k.removesuffix(" fwd+bwd")) for k in keys if k.endswith("rollout fwd+bwd")]
    if pairs:
        lines += ["", "backward cost (forward+backward rate / forward rate):", "",
                  "| N | " + " | ".join(f"{a} / {b}" for a, b in pairs) + " |", "|---|" + "---|" * len(pairs)]
        lines += ["| " + " | ".join([str(r["N"])] + [f"{r[a] / r[b]:.2f}" for a, b in pairs]) + " |" for r in rows]
    text = "\n".join(lines + [""] + notes)
    print(text)
    result = {"machine": machine(), "rounds": args.rounds, "rows": rows, "notes": notes,
              "per_round": {f"{n} {k}": v for (n, k), v in samples.items()}}
    save(args.json, result, text, indent=2)
    return result


if __name__ == "__main__":
    main()
