"""Hover time-to-solve, side by side: diffenvs' ABPT against rltools' TD3 on Learning to Fly.

For every seed, interleaved in one run of this script on one machine:

* **diffenvs**: ``diffenvs-train abpt --env DiffQuad-Hover-v0`` (the default preset: the paper's,
  with κ held at 0.01 and the learning rate decayed linearly over the run) in a subprocess,
  evaluated every ``--eval-every`` env steps on 32
  episodes (the trainer's evaluation: position error at the episode's end); time is the
  trainer's training wall-clock (evaluations excluded), read from its ``progress.csv``.
* **rltools TD3** (``pip install -e ".[peers]"``): rltools 2.2.1's TD3 training loop (C++,
  compiled once by rltools) stepping the l2f package's hover dynamics (Crazyflie, 100 Hz, 5 s
  episodes, initial attitudes up to 90 degrees, the "Learning to Fly in Seconds" set-up) through
  l2f's Python module, the simulator the evaluation flies too (:class:`L2FHover`), with the reward
  and termination of the RLtools zoo's L2F environment computed here from l2f's states
  (``--td3-mdp``, :data:`MDPS`: l2f's compiled reward is mis-weighted and teaches TD3 to crash),
  ``--td3-steps`` env steps, with the TD3 settings of the RLtools zoo's L2F configuration
  (``include/rl_tools/rl/zoo/l2f/td3.h`` in the rl-tools repository: batch 256, three 256-unit
  layers, a critic step every 16 env steps and an actor step every 32, 10,000 warm-up steps,
  exploration noise 0.3, target noise 0.2 clipped at 0.5, Adam 3e-4; :data:`TD3_ZOO`), or rltools'
  Python defaults (``--td3-preset default``). Every ``--td3-eval-every`` steps the loop pauses (the
  clock too) and the current policy flies 16 episodes in l2f's Python simulator of the same
  environment; the metric is the position error at the episode's end (or where it terminated),
  averaged.

A seed *solves* Hover when an evaluation is below ``--threshold`` (0.1 m); it *stays solved*
when its last 5 evaluations all are. The table gives per algorithm the seeds solved, the seeds
that stay solved and the median (min-max) training seconds and env steps to the first solving
evaluation, and the ratio of the medians (ours / theirs).

Resumable for ABPT: a seed whose run in ``--out`` finished with the same budget (its
``summary.json`` written) is read instead of rerun; the settings are not compared, so give each
``--abpt-set`` its own ``--out``.

    python benchmarks/hover_vs_rltools.py --seeds 0 1 2 3 4 5 --out benchmarks/results/hover_vs_rltools
    python benchmarks/hover_vs_rltools.py --seeds 0 --abpt-steps 200000 --td3-steps 20000   # a quick look
    python benchmarks/hover_vs_rltools.py --skip td3 --abpt-set zero_step_weight=0 --out OUT  # ABPT variants
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np

#: The RLtools zoo's TD3 settings for L2F that rltools' Python ``TD3`` exposes.
TD3_ZOO = dict(ACTOR_BATCH_SIZE=256, CRITIC_BATCH_SIZE=256, CRITIC_TRAINING_INTERVAL=16, ACTOR_TRAINING_INTERVAL=32,
               CRITIC_TARGET_UPDATE_INTERVAL=16, ACTOR_TARGET_UPDATE_INTERVAL=32, TARGET_NEXT_ACTION_NOISE_CLIP=0.5,
               TARGET_NEXT_ACTION_NOISE_STD=0.2, EXPLORATION_NOISE=0.3, ACTOR_HIDDEN_DIM=256, CRITIC_HIDDEN_DIM=256,
               ACTOR_NUM_LAYERS=3, CRITIC_NUM_LAYERS=3, N_WARMUP_STEPS=10_000, OPTIMIZER_ALPHA=3e-4, GAMMA=0.99)
#: The hover MDPs TD3 can train on, all over l2f's dynamics (its Python simulator): the weights of rl_tools'
#: ``Squared`` reward (:func:`squared_reward`) and the termination thresholds on any axis of position, m,
#: velocity, m/s, and angular velocity, rad/s (:func:`ended`), used in training and in the evaluation alike.
#:
#: * ``zoo`` (default): the RLtools zoo's L2F environment (``include/rl_tools/rl/zoo/l2f/environment.h`` in
#:   the rl-tools repository), the set-up its L2F TD3 configuration trains on.
#: * ``labelled``: l2f 2.0.18's own ``environment.h`` as its comments label the weights.
#: * ``as-built``: what the l2f 2.0.18 binary computes. Its 11-value initialiser fills rl_tools 2.2's
#:   14-field ``Squared`` in order, and that struct has a ``position_clip`` after ``position``, so every
#:   weight from there on lands one field late: 2.5 becomes the position clip, the velocity's 1.0 the
#:   orientation's, the action's 2.0 the angular acceleration's, and actions cost nothing. With termination
#:   rewarded 0 and flight rewarded -11.9 per step on average under random commands, ending an episode
#:   early pays: a learner maximising it is taught to crash. ``--check-reward`` shows this is what l2f
#:   computes.
MDPS = {
    "zoo": dict(reward=dict(scale=0.1, constant=1.0, termination_penalty=0.0, position=10.0, position_clip=0.0,
                            orientation=2.5, linear_velocity=0.05, angular_velocity=0.0, linear_acceleration=0.0,
                            angular_acceleration=0.0, action=0.1), termination=(1.0, 10.0, 35.0)),
    "labelled": dict(reward=dict(scale=0.1, constant=1.1, termination_penalty=0.0, position=10.0, position_clip=0.0,
                                 orientation=2.5, linear_velocity=1.0, angular_velocity=0.0, linear_acceleration=0.0,
                                 angular_acceleration=0.0, action=2.0), termination=(1.0, 2.0, 35.0)),
}
MDPS["as-built"] = dict(reward=dict(MDPS["labelled"]["reward"], position_clip=2.5, orientation=1.0,
                                    linear_velocity=0.0, angular_acceleration=2.0, action=0.0),
                        termination=(1.0, 2.0, 35.0))
HOVER_THROTTLE = 0.7261389721508553  # rl_tools' Crazyflie: throttle (in [0, 1] of the action range) that hovers
DT = 0.01  # l2f's integration step, s
EVAL_EPISODES = 16
EPISODE_STEPS = 500  # 5 s at l2f's 100 Hz
STAY = 5  # evaluations at the end that must all be solved


# ----------------------------------------------------------------------------- rltools TD3
class _L2FBatch:
    """``size`` drones of l2f's Python simulator at the nominal parameters: the vector module, its
    device, RNG, environment, parameters and two states (current and next)."""

    def __init__(self, size: int, seed: int):
        import l2f

        self.v, self.device = l2f.vector_selector[size], l2f.Device()
        self.rng, self.env = self.v.VectorRng(), self.v.VectorEnvironment()
        self.params, self.state, self.next = self.v.VectorParameters(), self.v.VectorState(), self.v.VectorState()
        self.v.initialize_rng(self.device, self.rng, seed)
        self.v.initialize_environment(self.device, self.env)
        self.v.initial_parameters(self.device, self.env, self.params)


def ended(state, thresholds) -> bool:
    """rl_tools' termination: any axis of position, velocity or angular velocity beyond its threshold."""
    return any(abs(x) > limit for values, limit in
               zip((state.position, state.linear_velocity, state.angular_velocity), thresholds) for x in values)


def _norm(values) -> float:
    return math.sqrt(sum(x * x for x in values))


def squared_reward(w: dict, state, action, next_state, terminated: bool) -> float:
    """rl_tools' ``Squared`` reward of one l2f transition with weights ``w`` (target: hover at the origin).

    Costs as rl_tools 2.2 defines them: position error (clipped at ``position_clip`` when positive),
    orientation ``2 acos(1 - |q[3]|)``, linear and angular speed, linear and angular acceleration over
    one step, and the squared distance of the actions (as throttles in [0, 1]) from the hover throttle;
    reward ``constant - scale * sum(weight * cost)``, or ``termination_penalty`` where the next state ends
    the episode. Plain Python arithmetic on the few numbers of one drone (cheaper than numpy's calls)."""
    if terminated:
        return w["termination_penalty"]
    v, omega = state.linear_velocity, state.angular_velocity
    position = _norm(state.position)
    if w["position_clip"] > 0:
        position = min(position, w["position_clip"])
    costs = {"position": position, "orientation": 2 * math.acos(1 - abs(state.orientation[3])),
             "linear_velocity": _norm(v), "angular_velocity": _norm(omega),
             "linear_acceleration": _norm([a - b for a, b in zip(next_state.linear_velocity, v)]) / DT,
             "angular_acceleration": _norm([a - b for a, b in zip(next_state.angular_velocity, omega)]) / DT,
             "action": sum(((float(a) + 1) / 2 - HOVER_THROTTLE) ** 2 for a in action)}
    return w["constant"] - w["scale"] * sum(w[k] * c for k, c in costs.items() if w[k])


class L2FHover(_L2FBatch):
    """l2f's hover environment (its Python simulator, one drone) as the Gymnasium-style env that
    rltools' training loop steps: the same simulator the evaluation flies, so that training and
    evaluation agree on every observation. Reward and termination are those of :attr:`mdp` (one of
    :data:`MDPS`, set per subclass by :func:`hover_env`), computed here from l2f's states; episodes
    also end after :data:`EPISODE_STEPS` steps (truncation)."""

    mdp = MDPS["zoo"]
    keep_l2f = False
    env_seconds = 0.0  # time spent in step() and reset(), all instances (rltools builds its own)

    def __init__(self, seed: int = 0):
        import gymnasium as gym

        super().__init__(1, seed)
        dim = self.env.OBSERVATION_DIM
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.obs, self.reward = np.zeros((1, dim), np.float32), np.zeros(1, np.float32)
        self.terminated, self.t = np.zeros(1, dtype=bool), 0
        self.spec = SimpleNamespace(max_episode_steps=EPISODE_STEPS)  # read by rltools for its episode limit

    def _observe(self):
        self.v.observe(self.device, self.env, self.params, self.state, self.obs, self.rng)
        return self.obs[0].copy()

    def reset(self, seed=None, options=None):
        t0 = time.perf_counter()
        out = self._reset()
        L2FHover.env_seconds += time.perf_counter() - t0
        return out

    def step(self, action):
        t0 = time.perf_counter()
        out = self._step(action)
        L2FHover.env_seconds += time.perf_counter() - t0
        return out

    def _reset(self):
        self.v.sample_initial_state(self.device, self.env, self.params, self.state, self.rng)
        self.t = 0
        return self._observe(), {}

    def _step(self, action):
        act = np.asarray(action, dtype=np.float32).reshape(1, 4)
        v, d = self.v, self.device
        v.step(d, self.env, self.params, self.state, act, self.next, self.rng)
        if self.keep_l2f:  # l2f's own reward and termination, for check_reward
            v.reward(d, self.env, self.params, self.state, act, self.next, self.reward, self.rng)
            v.terminated(d, self.env, self.params, self.next, self.terminated, self.rng)
            self.l2f = (float(self.reward[0]), bool(self.terminated[0]))
        end = ended(self.next.states[0], self.mdp["termination"])
        reward = squared_reward(self.mdp["reward"], self.state.states[0], act[0], self.next.states[0], end)
        self.state, self.next = self.next, self.state
        self.t += 1
        return self._observe(), reward, end, self.t >= EPISODE_STEPS, {}


def hover_env(mdp: str) -> type[L2FHover]:
    """:class:`L2FHover` with the MDP ``MDPS[mdp]`` (a class: rltools builds its envs from one)."""
    return type(f"L2FHover_{mdp.replace('-', '_')}", (L2FHover,), {"mdp": MDPS[mdp]})


def check_reward(steps: int = 2000, seed: int = 0) -> float:
    """Over random flights (episodes restart when they end): the largest relative difference between
    l2f's own reward and :func:`squared_reward` with the ``as-built`` weights, and the steps where
    :func:`ended` with l2f's thresholds and l2f's own termination disagree. The evidence that the
    formula is rl_tools' and that l2f's weights are the shifted ones."""
    env, rng, worst, disagree, ends = hover_env("as-built")(seed), np.random.default_rng(seed), 0.0, 0, 0
    env.keep_l2f, flight = True, []
    env.reset()
    for _ in range(steps):
        _, reward, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 4))
        worst = max(worst, abs(reward - env.l2f[0]) / max(1.0, abs(env.l2f[0])))
        disagree += terminated != env.l2f[1]
        ends += terminated
        if not terminated:
            flight.append(reward)
        if terminated or truncated:
            env.reset()
    print(f"l2f's reward vs squared_reward(as-built weights) over {steps} random steps: largest relative "
          f"difference {worst:.2e}; termination disagrees on {disagree} steps ({ends} episodes ended); l2f's reward "
          f"per step of flight: mean {np.mean(flight):.2f}, median {np.median(flight):.2f} (termination: "
          f"{env.mdp['reward']['termination_penalty']:g})")
    return worst


def build_td3(step_limit: int, preset: str = "zoo", mdp: str = "zoo", verbose: bool = False):
    """rltools' TD3 loop on :class:`L2FHover` with the MDP ``MDPS[mdp]`` (compiled by rltools on first use,
    then cached)."""
    import rltools

    settings = TD3_ZOO if preset == "zoo" else {}
    return rltools.TD3(hover_env(mdp), STEP_LIMIT=step_limit, EPISODE_STEP_LIMIT=EPISODE_STEPS, enable_evaluation=False,
                       interface_name=f"diffenvs_hover_{preset}", verbose=verbose, **settings)


class L2FEvaluator(_L2FBatch):
    """Flies a policy ``obs -> action`` for :data:`EVAL_EPISODES` episodes in l2f's Python simulator,
    episodes ending as in ``MDPS[mdp]``."""

    def __init__(self, seed: int, mdp: str = "zoo"):
        super().__init__(EVAL_EPISODES, seed)
        self.thresholds = MDPS[mdp]["termination"]
        self.obs = np.zeros((EVAL_EPISODES, self.env.OBSERVATION_DIM), dtype=np.float32)
        self.terminated = np.zeros(EVAL_EPISODES, dtype=bool)

    def __call__(self, action) -> float:
        v, d = self.v, self.device
        v.sample_initial_state(d, self.env, self.params, self.state, self.rng)
        alive = np.ones(EVAL_EPISODES, dtype=bool)
        error = np.zeros(EVAL_EPISODES)
        for _ in range(EPISODE_STEPS):
            v.observe(d, self.env, self.params, self.state, self.obs, self.rng)
            act = np.stack([action(o) for o in self.obs]).astype(np.float32)
            v.step(d, self.env, self.params, self.state, act, self.next, self.rng)
            self.state, self.next = self.next, self.state
            pos = np.array([s.position for s in self.state.states])
            error = np.where(alive, np.linalg.norm(pos, axis=-1), error)  # frozen where it terminated
            alive &= ~np.array([ended(s, self.thresholds) for s in self.state.states])
        return float(error.mean())


def run_td3(module, seed: int, steps: int, eval_every: int, mdp: str = "zoo") -> list[dict]:
    state, evaluate = module.State(seed), L2FEvaluator(1000 + seed, mdp)
    rows, train_s, env0 = [], 0.0, L2FHover.env_seconds
    for done in range(eval_every, steps + 1, eval_every):
        t0 = time.perf_counter()
        for _ in range(eval_every):
            state.step()
        train_s += time.perf_counter() - t0
        rows.append({"env_steps": done, "wall_time": train_s, "env_time": L2FHover.env_seconds - env0,
                     "eval_metric": evaluate(state.action)})
    return rows


# ----------------------------------------------------------------------------- diffenvs ABPT
def run_abpt(seed: int, steps: int, eval_every: int, out: str, settings: list[str] = ()) -> list[dict]:
    log_dir = os.path.join(out, f"abpt-s{seed}")
    cmd = [sys.executable, "-m", "trainers", "abpt", "--env", "DiffQuad-Hover-v0", "--seed", str(seed), "--steps",
           str(steps), "--eval-every", str(eval_every), "--log-dir", log_dir, "--no-progress", "--no-tensorboard"]
    cmd += [arg for item in settings for arg in ("--set", item)]
    if not _finished(log_dir, seed, steps):  # a finished run (its summary written) is read, not rerun
        shutil.rmtree(log_dir, ignore_errors=True)  # what an interrupted run left
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(log_dir, "progress.csv")) as fh:  # read without torch (rltools links MKL)
        rows = [r for r in csv.DictReader(fh) if r["eval_metric"] not in ("", "nan")]
    return [{"env_steps": int(float(r["env_steps"])), "wall_time": float(r["wall_time"]),
             "eval_metric": float(r["eval_metric"])} for r in rows]


def _finished(log_dir: str, seed: int, steps: int) -> bool:
    """Whether ``log_dir`` holds a finished run of this seed and budget (the trainer writes
    ``summary.json`` at the end), so that an interrupted benchmark resumes where it stopped."""
    try:
        with open(os.path.join(log_dir, "summary.json")) as fh:
            summary = json.load(fh)
    except (OSError, ValueError):
        return False
    return summary.get("seed") == seed and summary.get("asked_steps") == steps


def constant_baseline(values=(-1.0, -0.5, -0.2, 0.0, 0.2, 0.5)) -> dict[float, float]:
    """The evaluation's metric for policies that send one constant command to every motor, and
    the mean distance of its episode starts from the target: the floor a policy that learned
    nothing lands on."""
    evaluate = L2FEvaluator(1000)
    v, d = evaluate.v, evaluate.device
    v.sample_initial_state(d, evaluate.env, evaluate.params, evaluate.state, evaluate.rng)
    start = float(np.linalg.norm([s.position for s in evaluate.state.states], axis=-1).mean())
    out = {c: evaluate(lambda obs, c=c: np.full(4, c, np.float32)) for c in values}
    print(f"episode starts: mean distance {start:.3f} m")
    for c, err in out.items():
        print(f"constant command {c:+.1f}: final position error {err:.3f} m")
    return out


# ----------------------------------------------------------------------------- summary
def solved(rows: list[dict], threshold: float) -> dict:
    """First evaluation below ``threshold`` and whether the last :data:`STAY` all are."""
    first = next((r for r in rows if r["eval_metric"] < threshold), None)
    return {"solved": first is not None, "env_steps": first and first["env_steps"],
            "wall_time": first and round(first["wall_time"], 2),
            "env_time": first and round(first.get("env_time", 0.0), 2),
            "stays": len(rows) >= STAY and all(r["eval_metric"] < threshold for r in rows[-STAY:]),
            "best": min(r["eval_metric"] for r in rows), "final": rows[-1]["eval_metric"]}


def table(results: list[dict]) -> str:
    def spread(values, fmt):
        return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})" if values else "-"

    lines = ["| algorithm | seeds solved | stay solved (last 5 evaluations) | training s to solve, median (min-max)"
             " | env steps to solve, median (min-max) | final error per seed (m) |", "|---|---|---|---|---|---|"]
    medians = {}
    for algo in dict.fromkeys(r["algo"] for r in results):
        rows = [r for r in results if r["algo"] == algo]
        ok = [r for r in rows if r["solved"]]
        medians[algo] = statistics.median([r["wall_time"] for r in ok]) if ok else None
        lines.append(f"| {algo} | {len(ok)} / {len(rows)} | {sum(r['stays'] for r in rows)} / {len(rows)} | "
                     f"{spread([r['wall_time'] for r in ok], lambda x: f'{x:.1f}')} | "
                     f"{spread([r['env_steps'] for r in ok], lambda x: f'{x:,.0f}')} | "
                     f"{' / '.join(format(r['final'], '.3f') for r in rows)} |")
    if len(medians) == 2 and all(medians.values()):
        ours, theirs = medians.values()
        lines += ["", f"median training time to solve, ours / theirs: {ours / theirs:.2f}"]
        censored = {algo: statistics.median([r["wall_time"] if r["solved"] else r["evaluations"][-1]["wall_time"]
                                             for r in results if r["algo"] == algo]) for algo in medians}
        ours_c, theirs_c = censored.values()
        lines += [f"counting a seed that never solves at its whole training time: {ours_c:.1f} s / {theirs_c:.1f} s "
                  f"= {ours_c / theirs_c:.2f}"]
        td3 = [r for r in results if r["algo"] == "rltools TD3" and r["solved"]]
        if any(r["env_time"] for r in td3):  # TD3's time without l2f's Python stepping (its C++ would not pay it)
            bare = statistics.median([r["wall_time"] - r["env_time"] for r in td3])
            lines += [f"TD3's median time to solve without the time in its env's step()/reset(): {bare:.1f} s; "
                      f"ours / that: {ours / bare:.2f}"]
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--abpt-steps", type=int, default=1_000_000)
    parser.add_argument("--eval-every", type=int, default=50_000, help="diffenvs evaluation interval, env steps")
    parser.add_argument("--td3-steps", type=int, default=300_000)
    parser.add_argument("--td3-eval-every", type=int, default=10_000)
    parser.add_argument("--td3-preset", choices=["zoo", "default"], default="zoo",
                        help="TD3 settings: the RLtools zoo's for L2F, or rltools' Python defaults")
    parser.add_argument("--td3-mdp", choices=sorted(MDPS), default="zoo",
                        help="TD3's reward and termination (see MDPS): the RLtools zoo's L2F environment, l2f's as "
                             "its source labels them, or as its binary computes them")
    parser.add_argument("--check-reward", action="store_true",
                        help="only compare squared_reward and ended (as-built MDP) with l2f's own, then exit")
    parser.add_argument("--table-only", action="store_true",
                        help="only rewrite OUT/summary.md from OUT/summary.json (e.g. after a change to the table)")
    parser.add_argument("--threshold", type=float, default=0.1, help="position error that counts as solved, m")
    parser.add_argument("--out", default="benchmarks/results/hover_vs_rltools")
    parser.add_argument("--skip", nargs="*", default=[], choices=["abpt", "td3"], help="leave an algorithm out")
    parser.add_argument("--abpt-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="ABPT settings passed to diffenvs-train --set (to test a cause of failing seeds)")
    parser.add_argument("--constant-baseline", action="store_true",
                        help="only print the evaluation's error for constant commands (what a policy that learned "
                             "nothing scores) and the starts' mean distance, then exit")
    args = parser.parse_args(argv)
    if args.constant_baseline:
        return constant_baseline()
    if args.check_reward:
        return check_reward()
    if args.table_only:
        with open(os.path.join(args.out, "summary.json")) as fh:
            results = json.load(fh)
        return write_table(results, args.out)
    os.makedirs(args.out, exist_ok=True)
    module = None if "td3" in args.skip else build_td3(args.td3_steps, args.td3_preset, args.td3_mdp)
    results = []
    for seed in args.seeds:  # interleaved: both algorithms for a seed, then the next seed
        for algo in ("abpt", "td3"):
            if algo in args.skip:
                continue
            rows = run_abpt(seed, args.abpt_steps, args.eval_every, args.out, args.abpt_set) if algo == "abpt" else \
                run_td3(module, seed, args.td3_steps, args.td3_eval_every, args.td3_mdp)
            name = "diffenvs ABPT" + (f" ({', '.join(args.abpt_set)})" if args.abpt_set else "")
            result = {"algo": name if algo == "abpt" else "rltools TD3", "seed": seed,
                      **solved(rows, args.threshold), "evaluations": rows}
            results.append(result)
            print(json.dumps({k: v for k, v in result.items() if k != "evaluations"}), flush=True)
            with open(os.path.join(args.out, "summary.json"), "w") as fh:  # incremental
                json.dump(results, fh, indent=2)
    return write_table(results, args.out)


def write_table(results: list[dict], out: str) -> list[dict]:
    text = table(results)
    print(text)
    with open(os.path.join(out, "summary.md"), "w") as fh:
        fh.write(text + "\n")
    return results


if __name__ == "__main__":
    main()
