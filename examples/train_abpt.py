"""Main job: train ABPT on the default task (Hover) on CPU.

Prints the task's success metrics before and after training, and writes a learning
curve (``learning_curve.png``) and an animation of the trained policy
(``abpt_hover.gif``) to ``--out``.

    python examples/train_abpt.py --out outputs               # 46 s on a quiet 2-core CPU
    python examples/train_abpt.py --tiny --out /tmp/x         # seconds (used by the tests)
"""

from __future__ import annotations

import argparse
import os

import gymnasium as gym

from diffenvs.render import record_episode
from trainers import make_trainer
from trainers.core.logger import read_log


def plot_learning_curve(log_path: str, out_png: str, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in read_log(log_path) if r["eval_metric"] == r["eval_metric"]]  # evaluation rows
    steps = [r["env_steps"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot(steps, [r["eval_return"] for r in rows], marker="o")
    ax1.set_xlabel("env steps")
    ax1.set_ylabel("evaluation return")
    ax2.semilogy(steps, [r["eval_metric"] for r in rows], marker="o", color="C1")
    ax2.axhline(0.1, ls="--", color="gray", label="success threshold 0.1 m")
    ax2.set_xlabel("env steps")
    ax2.set_ylabel("final position error (m)")
    ax2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="DiffQuad-Hover-v0")
    parser.add_argument("--steps", type=int, default=600_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="outputs")
    parser.add_argument("--tiny", action="store_true", help="4 envs, a few hundred steps (smoke test)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    settings = dict(seed=args.seed, total_steps=args.steps, eval_every=args.steps // 6,
                    log_dir=os.path.join(args.out, "abpt-run"), progress=not args.tiny,
                    overwrite=True)  # the demo replaces its previous run in --out (rerunnable as it is)
    if args.tiny:
        settings.update(num_envs=4, horizon=8, total_steps=64, eval_every=32, eval_envs=2, critic_updates=2,
                        env_kwargs={"max_episode_steps": 16})
    trainer = make_trainer("abpt", env_id=args.env, **settings)
    before = trainer.evaluate()
    after = trainer.learn()
    metric = "final position error (m)" if "Hover" in args.env or "Tracking" in args.env else "main metric"
    print(f"{args.env}: {metric} {before['eval_metric']:.3f} -> {after['eval_metric']:.3f}, "
          f"success rate {before['eval_success']:.2f} -> {after['eval_success']:.2f}, "
          f"return {before['eval_return']:.2f} -> {after['eval_return']:.2f} "
          f"({trainer.env_steps} env steps, {trainer.wall_time:.1f} s of training)")
    png = plot_learning_curve(os.path.join(trainer.log_dir, "progress.csv"), os.path.join(args.out,
                              "learning_curve.png"), f"ABPT on {args.env}")
    env = gym.make_vec(args.env, num_envs=4, render_mode="rgb_array", **settings.get("env_kwargs", {}))
    gif = record_episode(env, trainer.policy, os.path.join(args.out, "abpt_hover.gif"),
                         max_steps=16 if args.tiny else None, every=3)
    trainer.save(os.path.join(args.out, "abpt_hover.pt"))
    print(f"learning curve: {png}\nanimation: {gif}")
    return before, after


if __name__ == "__main__":
    main()
