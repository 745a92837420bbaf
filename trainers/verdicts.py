"""Verdicts on claims about sweep results, with a rule stated up front.

A claims file (TOML) names the results, the budget every run must reach to count, the
seeds required, and the claims::

    results = ["benchmarks/results/figure4_paper/results.csv"]
    seeds = 5                           # seeds per side; fewer finished runs: inconclusive

    [budgets.DiffQuad-Hover-v0]         # env steps a run must reach to count, per algorithm
    default = 4000000
    ppo = 10000000

    [[claims]]
    text = "ABPT ends with a higher evaluation return than SHAC on Hover"
    env = "DiffQuad-Hover-v0"
    better = "abpt"                     # "algo" or "algo/variant" (variant "base" by default)
    worse = "shac"
    metric = "eval_return"              # any logged column (default), compared at the end
    # lower_is_better = true            # e.g. a position error (default: false)
    # steps_to = 30.0                   # instead: env steps until a seed's curve first reaches
    #                                   # this value (lower is better; never: the run's budget)
    # at = 1000000                      # instead of the end: each seed's first evaluation at or
    #                                   # after this many env steps (the run must have reached it),
    #                                   # to compare runs of different budgets at equal steps; with
    #                                   # steps_to, the curve is read up to there (never: at)

**The rule.** Each side's final value per seed (its last evaluation at or after the
budget) gives a 95 % bootstrap confidence interval of the mean over seeds (10,000
resamples of the seeds, percentile interval, fixed RNG). The claim **holds** when the two
intervals do not overlap in the claimed direction, **does not hold** when they do not
overlap in the other direction, is a **tie** when they overlap, and is **inconclusive**
when either side has fewer finished seeds than required. Beside each verdict: the means
with their intervals, every seed's value, and in how many seeds (paired by seed number)
the claimed side was better.

    diffenvs-train verdicts benchmarks/claims/figure4_paper.toml --out docs/_static/results/verdicts.md
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, field

import numpy as np

from .figures import _group, load
from .stats import RESAMPLES, bootstrap_ci  # noqa: F401  (RESAMPLES: part of this module's interface)
from .sweep import load_spec


@dataclass
class Side:
    """One side of a claim: an (algorithm, variant) on an env and its per-seed values."""

    algo: str
    variant: str
    values: dict[int, float] = field(default_factory=dict)  # finished seeds only
    unfinished: int = 0

    @property
    def label(self) -> str:
        return self.algo.upper() if self.variant == "base" else f"{self.algo.upper()} ({self.variant})"


def _parse_side(text: str) -> tuple[str, str]:
    algo, _, variant = text.partition("/")
    return algo, variant or "base"


def _seed_value(seed_rows: list[dict], claim: dict, budget: float) -> float | None:
    """The seed's value for the claim, or ``None`` if the run has not reached ``budget``."""
    metric = claim.get("metric", "eval_return")
    evaluated = [r for r in seed_rows if math.isfinite(r.get(metric, math.nan))]
    if not evaluated or evaluated[-1]["env_steps"] < budget:
        return None
    if "at" in claim:
        ends = [i for i, r in enumerate(evaluated) if r["env_steps"] >= claim["at"]]
        if not ends:
            return None
        evaluated, budget = evaluated[:ends[0] + 1], claim["at"]
    if "steps_to" in claim:
        sign = -1.0 if claim.get("lower_is_better") else 1.0
        hit = [r["env_steps"] for r in evaluated if sign * r[metric] >= sign * claim["steps_to"]]
        return float(hit[0]) if hit else float(budget)
    return float(evaluated[-1][metric])


def side(rows, claim: dict, which: str, budgets: dict) -> Side:
    algo, variant = _parse_side(claim[which])
    env = claim["env"]
    table = budgets.get(env, {})
    budget = table.get(f"{algo}/{variant}", table.get(algo, table.get("default", 0)))
    out = Side(algo, variant)
    for seed, seed_rows in sorted(_group(rows, env=env, algo=algo, variant=variant).items()):
        value = _seed_value(seed_rows, claim, budget)
        if value is None:
            out.unfinished += 1
        else:
            out.values[seed] = value
    return out


def verdict(better: Side, worse: Side, lower_is_better: bool, seeds: int) -> tuple[str, dict]:
    """The verdict on "``better`` beats ``worse``" and its evidence (see the module docstring)."""
    evidence = {"better": better, "worse": worse}
    if len(better.values) < seeds or len(worse.values) < seeds:
        return "inconclusive", evidence
    sign = -1.0 if lower_is_better else 1.0
    (b_lo, b_hi), (w_lo, w_hi) = bootstrap_ci(list(better.values.values())), bootstrap_ci(list(worse.values.values()))
    evidence.update(better_ci=(b_lo, b_hi), worse_ci=(w_lo, w_hi))
    paired = sorted(set(better.values) & set(worse.values))
    evidence["wins"] = (sum(sign * better.values[s] > sign * worse.values[s] for s in paired), len(paired))
    if sign > 0:
        return ("holds" if b_lo > w_hi else "does not hold" if b_hi < w_lo else "tie"), evidence
    return ("holds" if b_hi < w_lo else "does not hold" if b_lo > w_hi else "tie"), evidence


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _describe(s: Side, ci: tuple[float, float] | None) -> str:
    if not s.values:
        return f"{s.label}: no finished run" + (f" ({s.unfinished} running)" if s.unfinished else "")
    mean = float(np.mean(list(s.values.values())))
    per_seed = " / ".join(_fmt(v) for v in s.values.values())
    ci_text = f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else ""
    more = f", {s.unfinished} unfinished" if s.unfinished else ""
    return f"{s.label} {_fmt(mean)}{ci_text} (seeds: {per_seed}{more})"


def claims_table(spec: dict, rows: list[dict] | None = None) -> str:
    """Markdown: one row per claim with its evidence and verdict. A results file that does not
    exist yet (claims written before their runs) counts as no finished runs, and is named
    under the table."""
    paths = [spec["results"]] if isinstance(spec["results"], str) else list(spec["results"])
    missing = [p for p in paths if not os.path.exists(p)] if rows is None else []
    if rows is None:
        rows = load([p for p in paths if p not in missing])
    seeds, budgets = int(spec.get("seeds", 5)), spec.get("budgets", {})
    lines = ["| claim | evidence (mean [95 % CI] over seeds; per seed) | verdict |", "|---|---|---|"]
    for claim in spec["claims"]:
        lower = bool(claim.get("lower_is_better", False)) or "steps_to" in claim
        b, w = side(rows, claim, "better", budgets), side(rows, claim, "worse", budgets)
        result, ev = verdict(b, w, lower, seeds)
        metric = claim.get("metric", "eval_return")
        if "steps_to" in claim:
            what = f"env steps to {metric} {'≤' if claim.get('lower_is_better') else '≥'} {claim['steps_to']:g}"
            if "at" in claim:
                what += f" (within {_fmt(claim['at'])})"
        elif "at" in claim:
            what = f"{metric} at {_fmt(claim['at'])} env steps"
        else:
            what = f"final {metric}"
        text = (f"{what}: {_describe(b, ev.get('better_ci'))} vs {_describe(w, ev.get('worse_ci'))}"
                + (f"; better in {ev['wins'][0]}/{ev['wins'][1]} seeds" if "wins" in ev else ""))
        lines.append(f"| {claim['text']} | {text} | **{result}** |")
    if missing:
        lines += ["", "No results yet: " + ", ".join(f"`{p}`" for p in missing) + "."]
    return "\n".join(lines) + "\n"


def check_spec(spec: dict) -> None:
    """Raise ``ValueError`` naming every problem of a claims spec."""
    problems = []
    for key in ("results", "claims"):
        if key not in spec:
            problems.append(f"missing {key!r}")
    for i, claim in enumerate(spec.get("claims", [])):
        for key in ("text", "env", "better", "worse"):
            if key not in claim:
                problems.append(f"claim {i} ({claim.get('text', '?')!r}): missing {key!r}")
        unknown = set(claim) - {"text", "env", "better", "worse", "metric", "lower_is_better", "steps_to", "at"}
        if unknown:
            problems.append(f"claim {i}: unknown key(s) {sorted(unknown)}")
    if problems:
        raise ValueError("invalid claims file:\n" + "\n".join(problems))


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="diffenvs-train verdicts", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example:\n  diffenvs-train verdicts benchmarks/claims/figure4_paper.toml "
                                            "--out verdicts.md")
    parser.add_argument("claims", help="claims file (TOML; see trainers/verdicts.py)")
    parser.add_argument("--out", default=None, help="write the Markdown table here (default: print it)")
    args = parser.parse_args(argv)
    spec = load_spec(args.claims)
    check_spec(spec)
    table = claims_table(spec)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            fh.write(table)
        print(args.out)
    else:
        print(table, end="")
    return table


if __name__ == "__main__":
    main()
