"""Replay every registered env and record, or compare bit for bit, what it produced.

For each ``Diff*`` id, in float32 and float64: 6 envs reset with seed 3, then 40
``step_differentiable`` calls with fixed random actions (some beyond [-1, 1], autoresets
included); kept are the rewards, observations, terminated/truncated flags and the gradient
of the summed rewards with respect to every action. ``record FILE`` saves them; ``compare
FILE`` replays and prints how many (env, dtype) pairs differ in any bit (exit 1 if any).
To check that a change leaves results untouched, record in a worktree of the commit before
it and compare in the working tree:

    git worktree add /tmp/before REV
    (cd /tmp/before && PYTHONPATH=/tmp/before python /path/to/repo/scripts/env_replay.py record /tmp/replay.pt)
    python scripts/env_replay.py compare /tmp/replay.pt
"""

from __future__ import annotations

import sys

import gymnasium as gym
import torch

import diffenvs  # noqa: F401  (registers the ids)


def replay() -> dict[tuple[str, str], tuple]:
    torch.set_num_threads(1)
    out = {}
    for env_id in [k for k in gym.registry if k.startswith("Diff")]:
        for dtype in ("float32", "float64"):
            env = gym.make_vec(env_id, num_envs=6, dtype=dtype)
            env.reset(seed=3)
            g = torch.Generator().manual_seed(1)
            acts = (torch.rand(40, 6, env.action_dim, generator=g, dtype=env.dtype) * 2.4 - 1.2).requires_grad_(True)
            rewards, seen = [], []
            for k in range(40):
                obs, reward, terminated, truncated, _ = env.step_differentiable(acts[k])
                rewards.append(reward)
                seen += [obs if isinstance(obs, torch.Tensor) else torch.cat([v.flatten(1) for v in obs.values()], -1),
                         terminated.float(), truncated.float()]
            torch.stack(rewards).sum().backward()
            out[(env_id, dtype)] = (torch.stack(rewards).detach(), [x.detach() for x in seen], acts.grad.clone())
    return out


def main(argv=None) -> int:
    mode, path = (argv or sys.argv[1:])[:2]
    out = replay()
    if mode == "record":
        torch.save(out, path)
        print(f"recorded {len(out)} (env, dtype) replays in {path}")
        return 0
    ref = torch.load(path)
    differ = [k for k, (r, seen, grad) in out.items() if not (
        torch.equal(r, ref[k][0]) and all(map(torch.equal, seen, ref[k][1])) and torch.equal(grad, ref[k][2]))]
    for k in differ:
        print("differs:", *k)
    print(f"compared {len(out)}, differ {len(differ)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
