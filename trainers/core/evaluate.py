"""Deterministic evaluation of a policy on a task, with the task's success metrics."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import torch
from torch import Tensor

from diffenvs.registry import find_spec, task_class


def main_metric(env_id: str) -> tuple[str, bool]:
    """The main metric of a registered id's task (``info["final_info"]`` key) and whether
    lower is better (``("episode_return", False)`` for ids diffenvs does not know)."""
    spec = find_spec(env_id)
    if spec is None:
        return "episode_return", False
    return task_class(spec.robot, spec.task).main_metric


def make_eval_env(env_id: str, num_envs: int, **kwargs):
    return gym.make_vec(env_id, num_envs=num_envs, **kwargs)


@torch.no_grad()
def evaluate(policy: Callable[[Tensor], Tensor], env, seed: int = 12345) -> dict[str, float]:
    """Run one episode per env of a batched env with ``policy(obs) -> action``.

    Returns the mean episode return, length, success rate, the task's main metric
    (``eval_metric``, :attr:`diffenvs.contract.Task.main_metric`) and every other
    episode-end metric the task reports.
    """
    if not hasattr(env, "step_differentiable"):  # e.g. a plain Gymnasium wrapper; keep protocol wrappers
        env = env.unwrapped
    env.reset(seed=seed)
    n = env.num_envs
    finals: dict[str, Tensor] = {}
    done = torch.zeros(n, dtype=torch.bool, device=env.device)
    steps = env.max_episode_steps or 1000
    for _ in range(steps):
        _, _, term, trunc, info = env.step_differentiable(policy(env.obs))
        new = (term | trunc) & ~done
        for k, v in info["final_info"].items():
            prev = finals.get(k, torch.zeros_like(v))
            finals[k] = torch.where(new, v, prev)
        done |= new
        if bool(done.all()):
            break
    metric, _ = getattr(env.task, "main_metric", ("episode_return", False))
    out = {k: float(v[done].double().mean()) if done.any() else float("nan") for k, v in finals.items()}
    result = {
        "eval_return": out.get("episode_return", float("nan")),
        "eval_length": out.get("episode_length", float("nan")),
        "eval_success": out.get("success", float("nan")),
        "eval_metric": out.get(metric, float("nan")),
    }
    result.update({f"final_{k}": v for k, v in out.items()})
    return result
