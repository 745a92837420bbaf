"""The ABPT paper's figures from sweep results (``results.csv`` of :mod:`trainers.sweep`).

* Figure 4: every task × algorithm, training reward vs env steps (top) and vs wall-clock
  seconds (bottom); mean over seeds with the best/worst seed shaded.
* Figure 7: ABPT ablations (variants ``base``, ``no_zero_step``, ``no_entropy``,
  ``no_state_replay``) per task.
* Figure 8: racing with the position-based vs the velocity-based reward, gates passed per
  evaluation episode, per algorithm.
* Figure 9: learning rates on Hover (variants named ``lr<value>``), per algorithm.
* ``anchor``: residual learning, every algorithm with a frozen anchor (variant ``rpl``)
  against the same algorithm without (``base``), per task (e.g.
  ``benchmarks/sweeps/residual_quadrotor.toml`` with Figure 4's runs).
* ``abpt-variants``: every ABPT variant present, one panel each against ``base`` (for
  investigation sweeps such as ``benchmarks/sweeps/racing_abpt.toml``), with a table.
* Figure 5: parameter difference between training on fully differentiable rewards and on
  rewards with parts detached, with and without the 0-step return (a CSV written by
  :func:`trainers.experiments.parameter_difference`).
* ``finals``: every (algorithm, variant) of one env, its final evaluation per seed (dots), the
  mean and the 95 % bootstrap interval of the mean over seeds (the verdict rule's, see
  :mod:`trainers.verdicts`), for the evaluation return and the main metric, with a table (e.g.
  the factorial Racing sweep ``benchmarks/sweeps/racing_questions.toml``).
* ``runs``: every (algorithm, variant) of one env together, evaluation success and main
  metric against env steps and wall-clock seconds (log axes), with a table of thresholds
  reached (e.g. the navigation sweep, residual paper Figure 5).

    diffenvs-train figures benchmarks/results/figure4/results.csv --out docs/_static/results

"The reward" of a run is its evaluation return (``eval_return``: the deterministic
policy, one episode per evaluation env from fixed seeds), logged every ``eval_every``
env steps. The training ``episode_return`` is not comparable across algorithms: ABPT's
state replay restarts episodes in the middle, so its logged training episodes are
partial.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import os
import re
from collections import defaultdict

import numpy as np

import diffenvs

from .core.evaluate import main_metric
from .stats import bootstrap_ci

ALGO_ORDER = ("ppo", "bptt", "shac", "abpt")
ALGO_LABEL = {"ppo": "PPO", "bptt": "BPTT", "shac": "SHAC", "abpt": "ABPT"}
#: Figure labels and the order of envs in figures and tables: the registry's (robots' ENVS tables).
TASK_LABEL = {env_id: spec.label or env_id for env_id, spec in diffenvs.env_specs().items()}
TASK_ORDER = tuple(TASK_LABEL)


def load(paths: str | list[str]) -> list[dict]:
    """Rows of one or more ``results.csv`` files, numbers as floats (empty cells NaN)."""
    from .core.logger import read_log

    return [row for path in ([paths] if isinstance(paths, str) else paths)
            for row in read_log(path, text_columns=("variant", "algo", "env"))]


def _group(rows, **match) -> dict[int, list[dict]]:
    by_seed = defaultdict(list)
    for r in rows:
        if all(r[k] == v for k, v in match.items()):
            by_seed[int(r["seed"])].append(r)
    return {s: sorted(v, key=lambda r: r["env_steps"]) for s, v in by_seed.items()}


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    out = np.full_like(y, np.nan)
    for i in range(len(y)):
        chunk = y[max(0, i - window + 1): i + 1]
        chunk = chunk[np.isfinite(chunk)]
        if len(chunk):
            out[i] = chunk.mean()
    return out


def seed_curves(rows, x: str, y: str, smooth: int = 1, points: int = 100, **match):
    """Common x grid and per-seed y values ``(seeds, points)`` interpolated onto it."""
    groups = _group(rows, **match)
    curves = []
    for seed_rows in groups.values():
        xs = np.array([r[x] for r in seed_rows])
        ys = np.array([r[y] for r in seed_rows])
        ok = np.isfinite(ys) & np.isfinite(xs)
        if ok.sum() < 2:
            continue
        xs, ys = xs[ok], _smooth(ys[ok], smooth)
        curves.append((xs, ys))
    if not curves:
        return None, None
    hi = min(c[0].max() for c in curves)
    lo = max(c[0].min() for c in curves)
    grid = np.linspace(lo, hi, points)
    return grid, np.stack([np.interp(grid, xs, ys) for xs, ys in curves])


def _band(ax, grid, values, label, color):
    mean = values.mean(0)
    ax.plot(grid, mean, label=label, color=color, lw=1.6)
    if values.shape[0] > 1:
        ax.fill_between(grid, values.min(0), values.max(0), color=color, alpha=0.2, lw=0)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_png: str) -> str:
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    _plt().close(fig)
    return out_png


def _present(rows, key, order):
    have = {r[key] for r in rows}
    return [k for k in order if k in have] + sorted(have - set(order))


def figure4(rows, out_png: str, variant: str = "base") -> str:
    plt = _plt()
    rows = [r for r in rows if r["variant"] == variant]
    envs, algos = _present(rows, "env", TASK_ORDER), _present(rows, "algo", ALGO_ORDER)
    fig, axes = plt.subplots(2, len(envs), figsize=(4.2 * len(envs), 6.4), squeeze=False)
    for j, env in enumerate(envs):
        for i, x in enumerate(("env_steps", "wall_time")):
            ax = axes[i, j]
            for k, algo in enumerate(algos):
                grid, vals = seed_curves(rows, x, "eval_return", env=env, algo=algo)
                if grid is not None:
                    _band(ax, grid, vals, f"{ALGO_LABEL.get(algo, algo)} ({vals.shape[0]})", f"C{k}")
            ax.set_xlabel("env steps" if x == "env_steps" else "wall-clock (s)")
            if j == 0:
                ax.set_ylabel("evaluation return")
            if i == 0:
                ax.set_title(TASK_LABEL.get(env, env))
    axes[0, 0].legend(fontsize=8, title="algorithm (seeds)", title_fontsize=8)
    first = axes[0, 0].get_legend_handles_labels()[1]  # "algorithm (seeds)" labels
    for j in range(1, len(envs)):  # a task whose seed counts differ from the first's gets its own legend
        if axes[0, j].get_legend_handles_labels()[1] != first:
            axes[0, j].legend(fontsize=7, title="algorithm (seeds)", title_fontsize=7)
    return _save(fig, out_png)


def figure_variants(rows, out_png: str, algo: str, variants: list[str], envs: list[str], y: str = "eval_return",
                    x: str = "env_steps", ylabel: str = "evaluation return") -> str:
    """One panel per env, one line per variant of ``algo`` (Figures 7 and 9)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(envs), figsize=(4.2 * len(envs), 3.4), squeeze=False)
    for j, env in enumerate(envs):
        ax = axes[0, j]
        for k, variant in enumerate(variants):
            grid, vals = seed_curves(rows, x, y, env=env, algo=algo, variant=variant)
            if grid is not None:
                _band(ax, grid, vals, f"{variant} ({vals.shape[0]})", f"C{k}")
        ax.set_title(f"{ALGO_LABEL.get(algo, algo)}: {TASK_LABEL.get(env, env)}")
        ax.set_xlabel("env steps")
        if j == 0:
            ax.set_ylabel(ylabel)
    axes[0, 0].legend(fontsize=8)
    return _save(fig, out_png)


def figure_compare_to_base(rows, out_png: str, algo: str, env: str, y: str = "eval_return",
                           ylabel: str = "evaluation return", cols: int = 4) -> str:
    """One small panel per variant of ``algo`` on ``env``, each against the ``base``
    variant in grey (for investigation sweeps with many variants)."""
    plt = _plt()
    names = sorted({r["variant"] for r in rows if r["algo"] == algo and r["env"] == env} - {"base"})
    nrows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 2.9 * nrows), squeeze=False, sharey=True)
    base_grid, base_vals = seed_curves(rows, "env_steps", y, env=env, algo=algo, variant="base")
    for ax, name in itertools.zip_longest(axes.flat, names):
        if name is None:
            ax.axis("off")
            continue
        if base_grid is not None:
            _band(ax, base_grid, base_vals, f"base ({base_vals.shape[0]})", "0.5")
        grid, vals = seed_curves(rows, "env_steps", y, env=env, algo=algo, variant=name)
        _band(ax, grid, vals, f"{name} ({vals.shape[0]})", "C0")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[-1]:
        ax.set_xlabel("env steps")
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    fig.suptitle(f"{ALGO_LABEL.get(algo, algo)}: {TASK_LABEL.get(env, env)}")
    return _save(fig, out_png)


def figure8(rows, out_png: str) -> str:
    """Racing, position vs velocity reward: gates passed per evaluation episode (eval_metric)."""
    plt = _plt()
    envs = [e for e in ("DiffQuad-Racing-v0", "DiffQuad-RacingVelocity-v0") if any(r["env"] == e for r in rows)]
    algos = _present([r for r in rows if r["env"] in envs], "algo", ALGO_ORDER)
    fig, axes = plt.subplots(1, len(envs), figsize=(5 * len(envs), 3.6), squeeze=False)
    for j, env in enumerate(envs):
        ax = axes[0, j]
        for k, algo in enumerate(algos):
            grid, vals = seed_curves(rows, "env_steps", "eval_metric", env=env, algo=algo)
            if grid is not None:
                _band(ax, grid, vals, f"{ALGO_LABEL.get(algo, algo)} ({vals.shape[0]})", f"C{k}")
        ax.set_title(TASK_LABEL.get(env, env))
        ax.set_xlabel("env steps")
        ax.set_ylabel("gates passed per episode")
    axes[0, 0].legend(fontsize=8)
    return _save(fig, out_png)


def figure_anchor(rows, out_png: str, anchor: str = "rpl", base: str = "base") -> str:
    """Residual learning: one panel per task (rows) and algorithm (columns), the runs with an
    anchor (variant ``anchor``) against those without (variant ``base``) over the anchored
    runs' env steps, and the plain runs' final mean at their own (longer) budget as a dashed
    line. Mean over seeds, best to worst seed shaded; the legend gives the seed counts."""
    plt = _plt()
    anchored = [r for r in rows if r["variant"] == anchor]
    envs, algos = _present(anchored, "env", TASK_ORDER), _present(anchored, "algo", ALGO_ORDER)
    fig, axes = plt.subplots(len(envs), len(algos), figsize=(3.6 * len(algos), 2.7 * len(envs)), squeeze=False)
    for i, env in enumerate(envs):
        for j, algo in enumerate(algos):
            ax = axes[i, j]
            mine = [r for r in anchored if r["env"] == env and r["algo"] == algo]
            steps = max((r["env_steps"] for r in mine), default=0.0)
            plain = [r for r in rows if r["variant"] == base and r["env"] == env and r["algo"] == algo]
            grid, vals = seed_curves([r for r in plain if r["env_steps"] <= steps], "env_steps", "eval_return")
            if grid is not None:
                _band(ax, grid, vals, f"without ({vals.shape[0]})", "0.45")
            finals, at = final_values(plain, "eval_return")
            if finals:
                ax.axhline(np.mean(list(finals.values())), color="0.45", ls="--", lw=1,
                           label=f"without, end ({at / 1e6:.3g}M)")
            grid, vals = seed_curves(mine, "env_steps", "eval_return")
            if grid is not None:
                _band(ax, grid, vals, f"with anchor ({vals.shape[0]})", "C3")
            ax.set_title(f"{ALGO_LABEL.get(algo, algo)}: {TASK_LABEL.get(env, env)}", fontsize=9)
            ax.legend(fontsize=6, loc="lower right")
            if i == len(envs) - 1:
                ax.set_xlabel("env steps")
            if j == 0:
                ax.set_ylabel("evaluation return")
    return _save(fig, out_png)


def anchor_table(rows, anchor: str = "rpl", base: str = "base") -> str:
    """Markdown: per task and algorithm, the anchored runs' return at 0 steps (the anchor with
    the residual's initial output), at their end and at their best evaluation, and their final
    main metric, beside the plain runs' final return and main metric at their own budget; each
    as the mean over seeds and every seed's value."""
    def cell(values) -> str:
        return f"{np.mean(values):.3g} ({' / '.join(f'{v:.3g}' for v in values)})" if values else "–"

    anchored = [r for r in rows if r["variant"] == anchor]
    lines = ["| task | method | anchored: return at 0 steps | at the end (steps) | best | final main metric "
             "| without: final return (steps) | final main metric |", "|---|---|---|---|---|---|---|---|"]
    for env in _present(anchored, "env", TASK_ORDER):
        metric, _ = main_metric(env)
        for algo in _present([r for r in anchored if r["env"] == env], "algo", ALGO_ORDER):
            mine = _group(anchored, env=env, algo=algo)
            evals = {s: [r for r in v if math.isfinite(r["eval_return"])] for s, v in sorted(mine.items())}
            start = [v[0]["eval_return"] for v in evals.values() if v and v[0]["env_steps"] == 0]
            best = [max(r["eval_return"] for r in v) for v in evals.values() if v]
            end, end_steps = final_values(anchored, "eval_return", env=env, algo=algo)
            end_metric, _ = final_values(anchored, "eval_metric", env=env, algo=algo)
            plain, plain_steps = final_values(rows, "eval_return", env=env, algo=algo, variant=base)
            plain_metric, _ = final_values(rows, "eval_metric", env=env, algo=algo, variant=base)
            lines.append(f"| {TASK_LABEL.get(env, env)} | {ALGO_LABEL.get(algo, algo)} | {cell(start)} | "
                         f"{cell(list(end.values()))} ({end_steps:,.0f}) | {cell(best)} | {metric} "
                         f"{cell(list(end_metric.values()))} | {cell(list(plain.values()))} "
                         f"({plain_steps:,.0f}) | {metric} {cell(list(plain_metric.values()))} |")
    return "\n".join(lines)


def figure9(rows, out_png: str, lrs: list[str], env: str = "DiffQuad-Hover-v0") -> str:
    """One panel per algorithm, one line per learning rate (variants ``lr<value>``)."""
    plt = _plt()
    algos = _present(rows, "algo", ALGO_ORDER)
    fig, axes = plt.subplots(1, len(algos), figsize=(4.2 * len(algos), 3.4), squeeze=False)
    for ax, algo in zip(axes[0], algos):
        for k, lr in enumerate(lrs):
            grid, vals = seed_curves(rows, "env_steps", "eval_return", env=env, algo=algo, variant=lr)
            if grid is not None:
                _band(ax, grid, vals, f"{lr[2:]} ({vals.shape[0]})", f"C{k}")
        ax.set_title(f"{ALGO_LABEL.get(algo, algo)}: {TASK_LABEL.get(env, env)}")
        ax.set_xlabel("env steps")
    axes[0, 0].set_ylabel("evaluation return")
    axes[0, 0].legend(fontsize=8, title="learning rate")
    return _save(fig, out_png)


def _read_csvs(paths: str | list[str] | None) -> list[dict]:
    rows = []
    for path in [paths] if isinstance(paths, str) else (paths or []):
        with open(path, newline="") as fh:
            rows.extend(csv.DictReader(fh))
    return rows


def _by_seed(rows, label: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(iterations, values (seeds, iterations))`` of one objective, on the iterations all seeds share."""
    series = defaultdict(dict)
    for r in rows:
        if r["objective"] == label:
            series[r.get("seed", "0")][int(r["iteration"])] = float(r[key])
    common = sorted(set.intersection(*(set(v) for v in series.values())))
    return np.array(common, dtype=float), np.array([[v[i] for i in common] for v in series.values()])


def figure5(csv_paths: str | list[str], out_png: str, gradient_csvs: str | list[str] | None = None) -> str:
    """Parameter difference vs iteration, with and without the 0-step return; with
    ``gradient_csvs`` (from :func:`trainers.experiments.gradient_bias`) a second panel shows
    the relative error of the actor gradient caused by the detached terms. One CSV per
    seed: mean over seeds, the best and worst seed shaded."""
    plt = _plt()
    panels = [(_read_csvs(csv_paths), "param_difference", "|θ_full - θ_detached|")]
    if gradient_csvs:
        panels.append((_read_csvs(gradient_csvs), "relative_error", "|g_detached - g_full| / |g_full|"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.4), squeeze=False)
    colors: dict[str, str] = {}  # one colour per objective across the panels
    for ax, (rows, key, ylabel) in zip(axes[0], panels):
        for label in dict.fromkeys(r["objective"] for r in rows):  # in file order: ABPT first
            grid, vals = _by_seed(rows, label, key)
            _band(ax, grid, vals, f"{label} ({vals.shape[0]})", colors.setdefault(label, f"C{len(colors)}"))
        ax.set_xlabel("iteration")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    return _save(fig, out_png)


def figure5_table(csv_paths: str | list[str], gradient_csvs: str | list[str] | None = None) -> str:
    """Markdown for Figure 5: per objective, the final parameter difference (mean ± std over
    seeds) and, with ``gradient_csvs``, the mean and median relative gradient error and
    cosine over all probes of all seeds."""
    params, grads = _read_csvs(csv_paths), _read_csvs(gradient_csvs)
    labels = list(dict.fromkeys([r["objective"] for r in params] + [r["objective"] for r in grads]))
    lines = ["| objective | seeds | final parameter difference | gradient probes | relative error, mean (median) | "
             "cosine, mean (median) |", "|---|---|---|---|---|---|"]
    for label in labels:
        final, seeds = "–", "–"
        if any(r["objective"] == label for r in params):
            _, vals = _by_seed(params, label, "param_difference")
            final, seeds = f"{vals[:, -1].mean():.3g} ± {vals[:, -1].std():.2g}", str(vals.shape[0])
        g = [r for r in grads if r["objective"] == label]
        rel, cos = (np.array([float(r[k]) for r in g]) for k in ("relative_error", "cosine"))
        stats = (f"{len(g)} | {rel.mean():.3g} ({np.median(rel):.3g}) | {cos.mean():.3g} ({np.median(cos):.3g})"
                 if g else "– | – | –")
        lines.append(f"| {label} | {seeds} | {final} | {stats} |")
    if grads:
        ratio = np.array([float(r["zero_step_to_n_step_norm"]) for r in grads if r["objective"] == labels[0]])
        lines.append(f"\n|∇J^0| / |∇J^N| on the full reward: median {np.median(ratio):.3g}, "
                     f"mean {ratio.mean():.3g} over {len(ratio)} probes.")
    return "\n".join(lines)


CRITIC_LABEL = {"min": "min of twin critics (ABPT)", "mean": "mean of twin critics", "q0": "critic 1 alone",
                "q1": "critic 2 alone"}


def _probe_medians(rows, critic: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(env steps, values (seeds, probes in time))``: per seed and probe time, the median
    over probe states of ``key``; on the probe times all seeds share."""
    series = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["critic"] == critic:
            series[r["seed"]][float(r["env_steps"])].append(float(r[key]))
    common = sorted(set.intersection(*(set(v) for v in series.values())))
    return np.array(common), np.array([[np.median(v[x]) for x in common] for v in series.values()])


def figure_critic_gradient(csv_paths: str | list[str], out_png: str) -> str:
    """The critic's action gradient against finite differences of Monte-Carlo returns over
    training (CSVs of :func:`trainers.experiments.critic_gradient`, one per seed): cosine,
    norm ratio and value bias, medians over probe states, mean over seeds (best/worst seed
    shaded); the dotted line is the cosine between two halves of the finite differences
    (how well the reference itself is determined)."""
    plt = _plt()
    rows = _read_csvs(csv_paths)
    critics = [c for c in CRITIC_LABEL if any(r["critic"] == c for r in rows)]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
    for i, critic in enumerate(critics):
        for ax, key in zip(axes, ("cosine", "norm_ratio", "q_minus_mc")):
            grid, vals = _probe_medians(rows, critic, key)
            _band(ax, grid, vals, CRITIC_LABEL[critic], f"C{i}")
    grid, vals = _probe_medians(rows, critics[0], "fd_self_cosine")
    axes[0].plot(grid, vals.mean(0), "k:", lw=1.2, label="finite differences, half vs half")
    for ax, ylabel in zip(axes, ("cosine(∂Q/∂a, finite differences)", "|∂Q/∂a| / |finite differences|",
                                 "Q(s₀, a₀) − Monte-Carlo return")):
        ax.set_xlabel("env steps")
        ax.set_ylabel(ylabel)
    axes[0].axhline(0, color="0.7", lw=0.8)
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=7)
    return _save(fig, out_png)


def critic_gradient_table(csv_paths: str | list[str]) -> str:
    """Markdown: per critic reduction, the median over all probes (all seeds, all times) and
    over the second half of training of the cosine, norm ratio and value bias."""
    rows = _read_csvs(csv_paths)
    last = max(float(r["env_steps"]) for r in rows)
    lines = ["| critic | probes | cosine, median (2nd half) | norm ratio, median (2nd half) | "
             "Q − MC return, median (2nd half) |", "|---|---|---|---|---|"]
    for critic in (c for c in CRITIC_LABEL if any(r["critic"] == c for r in rows)):
        sel = [r for r in rows if r["critic"] == critic]
        late = [r for r in sel if float(r["env_steps"]) > last / 2]
        cells = [f"{np.median([float(r[k]) for r in sel]):.3g} ({np.median([float(r[k]) for r in late]):.3g})"
                 for k in ("cosine", "norm_ratio", "q_minus_mc")]
        lines.append(f"| {CRITIC_LABEL[critic]} | {len(sel)} | " + " | ".join(cells) + " |")
    if all("action_peak" in r for r in rows):
        eps = float(rows[0].get("eps") or 0.05)
        inside = [r for r in rows if r["critic"] == "min" and float(r["action_peak"]) <= 1 - eps]
        cos = [float(r["cosine"]) for r in inside]
        lines.append(f"\nProbes whose sampled action was not saturated (|a| ≤ {1 - eps:g} in every dimension): "
                     f"{len(inside)} of {sum(r['critic'] == 'min' for r in rows)}"
                     + (f", median cosine (min of twin critics) {np.median(cos):.3g}." if cos else "."))
    self_cos = [float(r["fd_self_cosine"]) for r in rows if r["critic"] == "min"]
    lines.append(f"\nFinite differences, half of the noise draws against the other half: median cosine "
                 f"{np.median(self_cos):.3g} over {len(self_cos)} probes.")
    return "\n".join(lines)


def summary_table(rows, variant: str = "base") -> str:
    """Markdown: per task and algorithm, the final evaluation return (mean over seeds),
    success rate (mean ± std over seeds, and each seed's), main metric (mean ± std over
    seeds), and the env steps / seconds until the mean evaluation-return curve first
    reaches 90 % of the way from its start to the best final return of that task."""
    rows = [r for r in rows if r["variant"] == variant]
    lines = ["| task | algorithm | seeds | final eval return | final success | success per seed | final metric | "
             "steps to 90 % | seconds to 90 % |", "|---|---|---|---|---|---|---|---|---|"]
    for env in _present(rows, "env", TASK_ORDER):
        stats = {}
        for algo in _present([r for r in rows if r["env"] == env], "algo", ALGO_ORDER):
            grid, vals = seed_curves(rows, "env_steps", "eval_return", env=env, algo=algo)
            tgrid, tvals = seed_curves(rows, "wall_time", "eval_return", env=env, algo=algo)
            if grid is None:
                continue
            ends = [sr[-1] for sr in _group(rows, env=env, algo=algo).values()]
            stats[algo] = (grid, vals.mean(0), tgrid, tvals.mean(0), vals.shape[0], ends)
        if not stats:
            continue
        best = max(s[1][-1] for s in stats.values())
        for algo, (grid, mean, tgrid, tmean, n, ends) in stats.items():
            steps, secs = _to_90(grid, mean, best, "{:,.0f}"), _to_90(tgrid, tmean, best, "{:.0f}", start=mean[0])
            per_seed = " / ".join(f"{r['eval_success']:.2g}" for r in ends)
            lines.append(f"| {TASK_LABEL.get(env, env)} | {ALGO_LABEL.get(algo, algo)} | {n} | {mean[-1]:.3g} | "
                         f"{_mean_std(ends, 'eval_success')} | {per_seed} | {_mean_std(ends, 'eval_metric')} | "
                         f"{steps} | {secs} |")
    return "\n".join(lines)


def _to_90(grid, mean, best: float, fmt: str, start: float | None = None) -> str:
    """``grid`` at the first point where the mean curve gets 90 % of the way from its start
    (or ``start``) to ``best``, formatted; ``"not reached"`` if it never does."""
    start = mean[0] if start is None else start
    hit = np.flatnonzero(mean >= start + 0.9 * (best - start))
    return fmt.format(grid[hit[0]]) if len(hit) else "not reached"


def lr_table(rows, lrs: list[str], env: str = "DiffQuad-Hover-v0") -> str:
    """Markdown for Figure 9: per algorithm and learning rate (variants ``lr<value>``), the
    final evaluation return (mean over seeds, and the worst–best seed), the final metric
    (mean ± std), and the env steps until the mean curve first gets 90 % of the way from
    its start to the best final mean return of any algorithm and rate."""
    stats = {}
    for algo, lr in itertools.product(_present(rows, "algo", ALGO_ORDER), lrs):
        grid, vals = seed_curves(rows, "env_steps", "eval_return", env=env, algo=algo, variant=lr)
        if grid is not None:
            ends = [sr[-1] for sr in _group(rows, env=env, algo=algo, variant=lr).values()]
            stats[algo, lr] = (grid, vals, ends)
    if not stats:
        return ""
    best = max(v[1].mean(0)[-1] for v in stats.values())
    lines = ["| algorithm | learning rate | seeds | final eval return (worst – best seed) | final metric | "
             "steps to 90 % |", "|---|---|---|---|---|---|"]
    for (algo, lr), (grid, vals, ends) in stats.items():
        mean = vals.mean(0)
        steps = _to_90(grid, mean, best, "{:,.0f}")
        lines.append(f"| {ALGO_LABEL.get(algo, algo)} | {lr[2:]} | {vals.shape[0]} | {mean[-1]:.3g} "
                     f"({vals[:, -1].min():.3g} – {vals[:, -1].max():.3g}) | {_mean_std(ends, 'eval_metric')} | "
                     f"{steps} |")
    return "\n".join(lines)


def _lower_is_better(env: str) -> bool:
    return main_metric(env)[1] if env in TASK_LABEL else True


def variant_table(rows, algos: list[str], variants: list[str], envs: list[str]) -> str:
    """Markdown: per task, algorithm and variant, the final and peak mean evaluation return,
    the final success and metric (mean ± std over seeds), and the best point of the mean
    metric curve (lowest error, or most gates for racing) with its env steps."""
    lines = ["| task | run | seeds | final eval return | peak of the mean return | final success | "
             "final metric | best of the mean metric (at env steps) |", "|---|---|---|---|---|---|---|---|"]
    for env, algo, variant in itertools.product(envs, algos, variants):
        grid, vals = seed_curves(rows, "env_steps", "eval_return", env=env, algo=algo, variant=variant)
        mgrid, mvals = seed_curves(rows, "env_steps", "eval_metric", env=env, algo=algo, variant=variant)
        if grid is None:
            continue
        mean, mmean = vals.mean(0), mvals.mean(0)
        i = int(np.argmin(mmean) if _lower_is_better(env) else np.argmax(mmean))
        ends = [sr[-1] for sr in _group(rows, env=env, algo=algo, variant=variant).values()]
        label = ALGO_LABEL.get(algo, algo) + ("" if variant == "base" else f" {variant}")
        lines.append(f"| {TASK_LABEL.get(env, env)} | {label} | {vals.shape[0]} | {mean[-1]:.3g} | "
                     f"{mean.max():.3g} | {_mean_std(ends, 'eval_success')} | {_mean_std(ends, 'eval_metric')} | "
                     f"{mmean[i]:.3g} ({mgrid[i]:,.0f}) |")
    return "\n".join(lines)


def _runs(rows, env: str) -> list[tuple[str, str]]:
    """``(algo, variant)`` pairs present for ``env``: base variants first, by algorithm."""
    pairs = {(r["algo"], r["variant"]) for r in rows if r["env"] == env}
    algo_rank = {a: i for i, a in enumerate(ALGO_ORDER)}
    return sorted(pairs, key=lambda p: (p[1] != "base", p[1], algo_rank.get(p[0], 99), p[0]))


def _run_label(algo: str, variant: str) -> str:
    name = ALGO_LABEL.get(algo, algo)
    return name if variant in ("base", algo) else f"{name} {variant}"


def _has_success(rows, env: str) -> bool:
    return any(math.isfinite(r["eval_success"]) for r in rows if r["env"] == env)


def figure_runs(rows, out_png: str, env: str) -> str:
    """Every (algorithm, variant) of ``env``: the main metric and the success rate of the
    evaluations against env steps, and the success rate against wall-clock seconds; for a
    task without a success metric (e.g. walking), the evaluation return against env steps
    and wall-clock seconds, and the main metric against env steps. Mean over seeds,
    best/worst seed shaded; log x axes, so that budgets 10x apart fit: the evaluations
    before training, at x = 0, are left out."""
    plt = _plt()
    metric, lower = main_metric(env)
    if _has_success(rows, env):
        success = "evaluation success"
        panels = (("env_steps", "eval_metric", f"evaluation {metric}"), ("env_steps", "eval_success", success),
                  ("wall_time", "eval_success", success))
    else:
        panels = (("env_steps", "eval_return", "evaluation return"), ("wall_time", "eval_return", "evaluation return"),
                  ("env_steps", "eval_metric", f"evaluation {metric}"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for j, (x, y, ylabel) in enumerate(panels):
        ax = axes[0, j]
        trained = [r for r in rows if r[x] > 0]
        for k, (algo, variant) in enumerate(_runs(rows, env)):
            grid, vals = seed_curves(trained, x, y, env=env, algo=algo, variant=variant)
            if grid is not None:
                _band(ax, grid, vals, f"{_run_label(algo, variant)} ({vals.shape[0]})", f"C{k}")
        ax.set_xscale("log")
        ax.set_xlabel("env steps" if x == "env_steps" else "wall-clock training time (s)")
        ax.set_ylabel(ylabel)
        ax.set_title(TASK_LABEL.get(env, env), fontsize=9)
    axes[0, 0].legend(fontsize=7, title="run (seeds)", title_fontsize=7)
    return _save(fig, out_png)


def _evaluation_means(rows, key: str, **match) -> list[tuple[float, float, float]]:
    """``(env_steps, mean wall_time, mean key)`` at every evaluation all seeds logged (no
    interpolation: the seeds of a run evaluate at the same env steps)."""
    groups = _group(rows, **match)
    points = defaultdict(list)
    for seed_rows in groups.values():
        for r in seed_rows:
            if math.isfinite(r[key]):
                points[r["env_steps"]].append((r["wall_time"], r[key]))
    return [(x, float(np.mean([w for w, _ in v])), float(np.mean([y for _, y in v])))
            for x, v in sorted(points.items()) if len(v) == len(groups)]


def thresholds_table(rows, env: str, metric_levels=(0.99,), success_levels=(0.9,)) -> str:
    """Markdown: per (algorithm, variant) of ``env``, the final main metric and success
    (mean ± std over seeds, with the worst seed), and the first evaluation at which the
    mean over seeds reaches each level: its env steps, and for success also the mean
    wall-clock training seconds (higher-is-better metrics)."""
    head = ["run", "seeds", "final metric (worst seed)", "final success (worst seed)"]
    head += [f"steps to metric ≥ {m:g}" for m in metric_levels]
    head += [f"steps (seconds) to success ≥ {s:g}" for s in success_levels]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def first(points, level, with_seconds):
        hit = next(((x, t) for x, t, y in points if y >= level), None)
        if hit is None:
            return "not reached"
        return f"{hit[0]:,.0f}" + (f" ({hit[1]:.1f} s)" if with_seconds else "")

    for algo, variant in _runs(rows, env):
        match = dict(env=env, algo=algo, variant=variant)
        ends = [sr[-1] for sr in _group(rows, **match).values()]
        if not ends:
            continue
        cells = [_run_label(algo, variant), str(len(ends))]
        for key in ("eval_metric", "eval_success"):
            worst = min((r[key] for r in ends if math.isfinite(r[key])), default=math.nan)
            cells.append(f"{_mean_std(ends, key)} ({worst:.3g})")
        metric_points, success_points = _evaluation_means(rows, "eval_metric", **match), \
            _evaluation_means(rows, "eval_success", **match)
        cells += [first(metric_points, lv, False) for lv in metric_levels]
        cells += [first(success_points, lv, True) for lv in success_levels]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def returns_table(rows, env: str, fractions=(0.25, 0.5, 0.9)) -> str:
    """Markdown, for a task without a success metric: per (algorithm, variant) of ``env``,
    the evaluation return before training and at the end, the final main metric (mean ±
    std over seeds, worst seed in brackets), and the first evaluation at which the mean
    over seeds reaches each return level: its env steps and mean wall-clock seconds. The
    levels are fractions of the way from the lowest mean return before training to the
    highest final mean return of all runs, so every run is measured against the same
    numbers (sample efficiency as steps to a common reward)."""
    metric, lower = main_metric(env)
    runs = [(a, v) for a, v in _runs(rows, env) if _group(rows, env=env, algo=a, variant=v)]
    means = {run: _evaluation_means(rows, "eval_return", env=env, algo=run[0], variant=run[1]) for run in runs}
    starts = [pts[0][2] for pts in means.values() if pts and pts[0][0] == 0]
    finals = [pts[-1][2] for pts in means.values() if pts]
    if not finals:
        return ""
    lo, hi = (min(starts) if starts else min(finals)), max(finals)
    levels = [lo + f * (hi - lo) for f in fractions]
    head = ["run", "seeds", "budget (steps)", "return before training", "final return (worst seed)",
            f"final {metric} (worst seed)"]
    head += [f"steps (seconds) to return ≥ {lv:.0f} ({f:.0%} of the way)" for f, lv in zip(fractions, levels)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for algo, variant in runs:
        match = dict(env=env, algo=algo, variant=variant)
        groups = _group(rows, **match)
        ends = [sr[-1] for sr in groups.values()]
        begins = [sr[0] for sr in groups.values() if sr[0]["env_steps"] == 0]
        worst_ret = min(r["eval_return"] for r in ends)
        metrics = [r["eval_metric"] for r in ends if math.isfinite(r["eval_metric"])]
        worst_metric = (max if lower else min)(metrics, default=math.nan)
        cells = [_run_label(algo, variant), str(len(ends)), f"{max(r['env_steps'] for r in ends):,.0f}",
                 _mean_std(begins, "eval_return"), f"{_mean_std(ends, 'eval_return')} ({worst_ret:.3g})",
                 f"{_mean_std(ends, 'eval_metric')} ({worst_metric:.3g})"]
        for lv in levels:
            hit = next(((x, t) for x, t, y in means[(algo, variant)] if x > 0 and y >= lv), None)
            cells.append("not reached" if hit is None else f"{hit[0]:,.0f} ({hit[1]:.0f} s)")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def final_values(rows, key: str, **match) -> tuple[dict[int, float], float]:
    """Each seed's last finite ``key`` (its final evaluation) and the fewest env steps at which
    a seed's final evaluation was made (a run still training ends earlier than the others)."""
    values, steps = {}, math.inf
    for seed, seed_rows in sorted(_group(rows, **match).items()):
        done = [r for r in seed_rows if math.isfinite(r[key])]
        if done:
            values[seed] = float(done[-1][key])
            steps = min(steps, done[-1]["env_steps"])
    return values, steps


def figure_finals(rows, out_png: str, env: str) -> str:
    """Final evaluation return and main metric of every (algorithm, variant) of ``env``: one dot
    per seed, the mean (bar) and its 95 % bootstrap interval (line), one row per run."""
    plt = _plt()
    runs = _runs(rows, env)
    metric, lower = main_metric(env)
    keys = [("eval_return", "final evaluation return"),
            ("eval_metric", f"final {metric}" + (" (lower is better)" if lower else ""))]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.9 + 0.38 * len(runs)), sharey=True)
    for ax, (key, label) in zip(axes, keys):
        for i, (algo, variant) in enumerate(runs):
            values, _ = final_values(rows, key, env=env, algo=algo, variant=variant)
            if not values:
                continue
            x = np.array(list(values.values()))
            lo, hi = bootstrap_ci(x)
            ax.plot([lo, hi], [i, i], color="C0", lw=2.5, alpha=0.5)
            ax.plot([x.mean()] * 2, [i - 0.3, i + 0.3], color="C0", lw=2)
            ax.scatter(x, np.full(len(x), i) + np.linspace(-0.12, 0.12, len(x)), s=14, color="k", zorder=3)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(runs)), [_run_label(a, v) for a, v in runs])
    axes[0].invert_yaxis()
    fig.suptitle(f"{TASK_LABEL.get(env, env)}: final evaluation per seed (dots), mean and 95 % bootstrap interval")
    return _save(fig, out_png)


def finals_table(rows, env: str) -> str:
    """Markdown: per (algorithm, variant) of ``env``, the final evaluation return, main metric
    and success, each as the mean [95 % bootstrap interval] over seeds and per seed."""
    metric, _ = main_metric(env)
    lines = [f"| run | seeds (final evaluation at env steps) | final return | final {metric} | final success |",
             "|---|---|---|---|---|"]

    def cell(values: dict[int, float]) -> str:
        if not values:
            return "–"
        x = list(values.values())
        lo, hi = bootstrap_ci(x)
        return f"{np.mean(x):.3g} [{lo:.3g}, {hi:.3g}] ({' / '.join(f'{v:.3g}' for v in x)})"

    for algo, variant in _runs(rows, env):
        match = dict(env=env, algo=algo, variant=variant)
        ret, steps = final_values(rows, "eval_return", **match)
        if not ret:
            continue
        lines.append(f"| {_run_label(algo, variant)} | {len(ret)} ({steps:,.0f}) | {cell(ret)} | "
                     f"{cell(final_values(rows, 'eval_metric', **match)[0])} | "
                     f"{cell(final_values(rows, 'eval_success', **match)[0])} |")
    return "\n".join(lines)


def _write(path: str, text: str) -> str:
    with open(path, "w") as fh:
        fh.write(text + "\n")
    return path


def _mean_std(rows, key) -> str:
    vals = [r[key] for r in rows if math.isfinite(r[key])]
    return f"{np.mean(vals):.3g} ± {np.std(vals):.2g}" if vals else "–"


def main(argv: list[str] | None = None) -> list[str]:
    """``diffenvs-train figures [RESULTS.csv ...] --out DIR [--figs 4 7 8 9 abpt-variants finals runs] [--envs ID ...]
    [--fig5 CSV ... [--fig5-gradient CSV ...]]``."""
    parser = argparse.ArgumentParser(
        prog="diffenvs-train figures", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw the results figures and summary tables (PNG and Markdown) from the results.csv of sweeps.",
        epilog="examples:\n"
               "  diffenvs-train figures benchmarks/results/figure4/results.csv --out figures --figs 4\n"
               "  diffenvs-train figures benchmarks/results/quadruped/results.csv --out figures --figs runs")
    parser.add_argument("results", nargs="*", help="results.csv files of sweeps (none for Figure 5 alone)")
    parser.add_argument("--out", required=True, help="folder for the PNG figures and Markdown tables")
    parser.add_argument("--figs", nargs="+", default=["4", "7", "8", "9"],
                        help="which: 4, 7, 8, 9 (the ABPT paper's figures; each drawn when the results hold its "
                             "runs), abpt-variants (every ABPT variant against base), finals (every run's final "
                             "evaluation per seed with the mean's bootstrap interval), runs (every run of each env: "
                             "its main metric and success against env steps and wall-clock), anchor (each algorithm "
                             "with its anchor, variant rpl, against itself without, variant base) (default: 4 7 8 9)")
    parser.add_argument("--fig5", nargs="+", default=None,
                        help="CSVs (one per seed) of trainers.experiments.parameter_difference")
    parser.add_argument("--fig5-gradient", nargs="+", default=None,
                        help="CSVs (one per seed) of trainers.experiments.gradient_bias")
    parser.add_argument("--critic-gradient", nargs="+", default=None,
                        help="CSVs (one per seed) of trainers.experiments.critic_gradient")
    parser.add_argument("--envs", nargs="+", default=None, help="only these env ids")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rows = load(args.results)
    if args.envs:
        rows = [r for r in rows if r["env"] in args.envs]
    written = []
    variants = {r["variant"] for r in rows}
    envs = _present(rows, "env", TASK_ORDER)
    if "4" in args.figs and "base" in variants:
        written.append(figure4(rows, os.path.join(args.out, "figure4.png")))
        written.append(_write(os.path.join(args.out, "summary.md"), summary_table(rows)))
    ablations = [v for v in ("base", "no_zero_step", "no_entropy", "no_state_replay") if v in variants]
    if "7" in args.figs and len(ablations) > 1:
        ablation_rows = [r for r in rows if r["variant"] in ablations]
        written.append(figure_variants(ablation_rows, os.path.join(args.out, "figure7.png"), "abpt", ablations, envs))
        written.append(_write(os.path.join(args.out, "summary_ablation.md"),
                              variant_table(ablation_rows, ["abpt"], ablations, envs)))
    if "8" in args.figs and any(r["env"] == "DiffQuad-RacingVelocity-v0" for r in rows):
        written.append(figure8(rows, os.path.join(args.out, "figure8.png")))
        racing = [r for r in rows if r["variant"] == "base" and "Racing" in r["env"]]
        written.append(_write(os.path.join(args.out, "summary_racing.md"), variant_table(
            racing, _present(racing, "algo", ALGO_ORDER), ["base"], _present(racing, "env", TASK_ORDER))))
    # Learning-rate variants are named "lr" and a number ("lr0.003", "lr1e-05").
    lrs = sorted((v for v in variants if re.fullmatch(r"lr(\d*\.\d+|\d+(\.\d*)?e-?\d+)", v)),
                 key=lambda v: -float(v[2:]))
    if "9" in args.figs and lrs:
        lr_rows = [r for r in rows if r["variant"] in lrs]
        written.append(figure9(lr_rows, os.path.join(args.out, "figure9.png"), lrs))
        written.append(_write(os.path.join(args.out, "summary_lr.md"), lr_table(lr_rows, lrs)))
    if "anchor" in args.figs and {"base", "rpl"} <= variants:
        written.append(figure_anchor(rows, os.path.join(args.out, "anchor.png")))
        written.append(_write(os.path.join(args.out, "summary_anchor.md"), anchor_table(rows)))
    if "abpt-variants" in args.figs:  # every ABPT variant present (e.g. an investigation sweep)
        abpt = [r for r in rows if r["algo"] == "abpt"]
        names = sorted({r["variant"] for r in abpt}, key=lambda v: (v != "base", v))
        for env in _present(abpt, "env", TASK_ORDER):
            stem = env.removeprefix("DiffQuad-").removesuffix("-v0").lower()
            written.append(figure_compare_to_base(abpt, os.path.join(args.out, f"abpt_variants_{stem}.png"), "abpt",
                                                  env))
        written.append(_write(os.path.join(args.out, "summary_abpt_variants.md"),
                              variant_table(abpt, ["abpt"], names, _present(abpt, "env", TASK_ORDER))))
    if "finals" in args.figs:
        for env in envs:
            stem = env.removesuffix("-v0").lower()
            written.append(figure_finals(rows, os.path.join(args.out, f"finals_{stem}.png"), env))
            written.append(_write(os.path.join(args.out, f"summary_finals_{stem}.md"), finals_table(rows, env)))
    if "runs" in args.figs:
        for env in envs:
            stem = env.removesuffix("-v0").lower()
            written.append(figure_runs(rows, os.path.join(args.out, f"runs_{stem}.png"), env))
            table = thresholds_table(rows, env) if _has_success(rows, env) else returns_table(rows, env)
            written.append(_write(os.path.join(args.out, f"summary_runs_{stem}.md"), table))
    if args.fig5:
        written.append(figure5(args.fig5, os.path.join(args.out, "figure5.png"), args.fig5_gradient))
        written.append(_write(os.path.join(args.out, "summary_fig5.md"), figure5_table(args.fig5, args.fig5_gradient)))
    if args.critic_gradient:
        written.append(figure_critic_gradient(args.critic_gradient, os.path.join(args.out, "critic_gradient.png")))
        written.append(_write(os.path.join(args.out, "summary_critic_gradient.md"),
                              critic_gradient_table(args.critic_gradient)))
    for path in written:
        print(path)
    return written
