"""Train stable-baselines3 PPO on a diffenvs task through the SB3 VecEnv adapter.

    python examples/ppo_sb3.py --env DiffQuad-Hover-v0 --steps 200000
    python examples/ppo_sb3.py --tiny
"""

from __future__ import annotations

import argparse

from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

from diffenvs.wrappers import make_sb3_env


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="DiffQuad-Hover-v0")
    parser.add_argument("--num-envs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        args.num_envs, args.steps = 4, 256
    env = VecNormalize(VecMonitor(make_sb3_env(args.env, num_envs=args.num_envs, seed=args.seed)))
    model = PPO("MlpPolicy", env, n_steps=64 if args.tiny else 256, batch_size=256, seed=args.seed, device="cpu",
                verbose=0)
    model.learn(total_timesteps=args.steps)
    rewards = [ep["r"] for ep in model.ep_info_buffer]
    if rewards:
        print(f"{args.env}: mean episode return over the last {len(rewards)} episodes: "
              f"{sum(rewards) / len(rewards):.2f}")
    return model


if __name__ == "__main__":
    main()
