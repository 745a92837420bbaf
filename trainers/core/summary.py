"""What a person sees of a run: the progress bar's figures and the end-of-run summary.

Both show the evaluation (the deterministic policy), not the training return: the task's
main metric by name and unit, the success rate, the evaluation return, env steps and
env steps per second. The summary is also written as ``summary.json`` in the run folder
(the machine-readable copy); the terminal gets a table drawn by ``rich``.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from diffenvs.fileio import atomic_path
from diffenvs.registry import find_spec, task_class


def metric_units(env_id: str) -> dict[str, str]:
    """``metric -> unit`` of a registered id's task (:attr:`diffenvs.contract.Task.metric_units`;
    empty for ids diffenvs does not know)."""
    spec = find_spec(env_id)
    return {} if spec is None else dict(task_class(spec.robot, spec.task).metric_units)


def main_metric_of(env_id: str) -> tuple[str, str, bool]:
    """``(name, unit, lower_is_better)`` of a registered id's main metric."""
    spec = find_spec(env_id)
    if spec is None:
        return "episode_return", "", False
    cls = task_class(spec.robot, spec.task)
    name, lower = cls.main_metric
    return name, cls.metric_units.get(name, ""), lower


def format_value(value: float, unit: str = "") -> str:
    """``0.973, "%"`` -> ``"97.3 %"``; ``0.0412, "m"`` -> ``"0.0412 m"``; NaN -> ``"-"``."""
    if value is None or not math.isfinite(value):
        return "-"
    if unit == "%":
        return f"{100 * value:.3g} %"
    text = f"{value:.3g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return f"{text} {unit}".rstrip()


def eval_figures(result: dict[str, float], env_id: str) -> dict[str, str]:
    """The progress bar's figures of an evaluation: the main metric by name and unit, the
    success rate (when the task has one) and the evaluation return."""
    if not result:
        return {}
    name, unit, _ = main_metric_of(env_id)
    shown = {}
    if name != "episode_return":
        shown[name] = format_value(result.get("eval_metric", math.nan), unit)
    if "success" in metric_units(env_id) and name != "success":
        shown["success"] = format_value(result.get("eval_success", math.nan), "%")
    shown["eval return"] = format_value(result.get("eval_return", math.nan))
    return shown


def planned_steps(env_steps: int, total_steps: int, per_iteration: int) -> int:
    """The env steps a run to ``total_steps`` actually takes: whole iterations of
    ``per_iteration`` steps, so the first multiple at or past ``total_steps``."""
    if env_steps >= total_steps:
        return env_steps
    return env_steps + math.ceil((total_steps - env_steps) / per_iteration) * per_iteration


def run_summary(trainer, result: dict[str, float], checkpoint: str | None = None) -> dict[str, Any]:
    """The end-of-run summary of a trainer after ``learn``: what ran, for how long, and its
    last evaluation (every episode-end metric, with units)."""
    cfg = trainer.cfg
    name, unit, lower = main_metric_of(cfg.env_id)
    units = metric_units(cfg.env_id)
    wall = float(trainer.wall_time)
    summary: dict[str, Any] = {
        "algo": trainer.algo, "env": cfg.env_id, "seed": cfg.seed,
        "env_steps": int(trainer.env_steps), "asked_steps": int(cfg.total_steps),
        "steps_per_iteration": int(trainer.steps_per_iteration),
        "wall_time": round(wall, 2),
        "steps_per_second": round(trainer.env_steps / wall, 1) if wall > 0 else None,
        "eval_episodes": int(cfg.eval_envs),
        "main_metric": {"name": name, "unit": unit, "lower_is_better": lower},
        "eval": {k: round(v, 6) for k, v in result.items() if isinstance(v, float) and math.isfinite(v)},
        "units": {f"final_{k}": u for k, u in units.items()},
        "log_dir": trainer.log_dir,
        "checkpoint": checkpoint,
    }
    return summary


def write_summary(summary: dict[str, Any], log_dir: str) -> str:
    """Write ``summary.json`` atomically in ``log_dir``; returns its path."""
    path = os.path.join(log_dir, "summary.json")
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(summary, fh, indent=1)
    return path


def print_summary(summary: dict[str, Any], file=None) -> None:
    """Draw the summary as a two-column table (``rich``; plain text when not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    ev, units = summary["eval"], summary["units"]
    main = summary["main_metric"]
    table = Table(title=f"{summary['algo']} on {summary['env']}, seed {summary['seed']}", show_header=False,
                  title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    steps = f"{summary['env_steps']:,}"
    if summary["env_steps"] != summary["asked_steps"]:
        steps += (f" (asked {summary['asked_steps']:,}; whole iterations of "
                  f"{summary['steps_per_iteration']:,})")
    table.add_row("env steps", steps)
    rate = summary["steps_per_second"]
    table.add_row("training time", f"{summary['wall_time']:,.1f} s" + (f", {rate:,.0f} env steps/s" if rate else "")
                  + " (evaluations excluded)")
    table.add_row("evaluation", f"{summary['eval_episodes']} episodes, deterministic policy")
    if main["name"] != "episode_return":
        better = "lower" if main["lower_is_better"] else "higher"
        table.add_row(main["name"], f"{format_value(ev.get('eval_metric', math.nan), main['unit'])} "
                                    f"(main metric; {better} is better)")
    if "final_success" in ev and main["name"] != "success":
        table.add_row("success", format_value(ev["final_success"], "%"))
    table.add_row("eval return", format_value(ev.get("eval_return", math.nan)))
    table.add_row("episode length", format_value(ev.get("eval_length", math.nan), "steps"))
    for key, unit in units.items():
        name = key.removeprefix("final_")
        if key in ev and name not in (main["name"], "success"):
            table.add_row(name, format_value(ev[key], unit))
    table.add_row("log", os.path.join(summary["log_dir"], "progress.csv"))
    if summary.get("checkpoint"):
        table.add_row("checkpoint", summary["checkpoint"])
    Console(file=file, soft_wrap=True).print(table)
