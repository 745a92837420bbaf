"""Compare the runs of two sweep folders run by run (e.g. a sweep and its rerun at newer code).

Usage::

    python benchmarks/compare_reruns.py benchmarks/results/quadruped benchmarks/results/quadruped_shac_rerun \\
        [--labels committed rerun] [--last 3] [--out compare.md]

For every run (``variant/algo/env/seed``) that both folders hold, the return and main metric of its
last evaluation (``eval_return``, ``eval_metric`` of the sweep's ``results.csv``; with ``--last K`` their
means over its last ``K`` evaluations, as single evaluations can swing) and the training time (its
last ``wall_time``) on each side, as a Markdown table, and per variant and algorithm the range over
the seeds on each side.
"""

from __future__ import annotations

import argparse
import math
import os

from trainers.core.logger import read_log


def finals(root: str, last: int = 1) -> dict[str, tuple[float, float, float]]:
    """``{run: (eval return, eval metric, training seconds)}`` of a sweep folder (its gathered
    ``results.csv``), the evaluations' means over each run's ``last`` ones."""
    runs: dict[str, list[dict]] = {}
    for row in read_log(os.path.join(root, "results.csv"), text_columns=("variant", "algo", "env")):
        runs.setdefault(f"{row['variant']}/{row['algo']}/{row['env']}/s{int(row['seed'])}", []).append(row)
    out = {}
    for run, rows in runs.items():
        tail = [r for r in rows if not math.isnan(r["eval_return"])][-last:]
        if tail:
            out[run] = (sum(r["eval_return"] for r in tail) / len(tail),
                        sum(r["eval_metric"] for r in tail) / len(tail), rows[-1]["wall_time"])
    return out


def table(a: dict, b: dict, labels: tuple[str, str]) -> str:
    runs = sorted(set(a) & set(b))
    la, lb = labels
    lines = [f"| run | {la}: return | {la}: metric | {la}: training s | {lb}: return | {lb}: metric | "
             f"{lb}: training s |", "|---|---|---|---|---|---|---|"]
    for run in runs:
        x, y = a[run], b[run]
        lines.append(f"| {run} | {x[0]:.1f} | {x[1]:.3f} | {x[2]:.0f} | {y[0]:.1f} | {y[1]:.3f} | {y[2]:.0f} |")
    lines += ["", f"| variant/algo/env | {la}: return range | {lb}: return range | {la}: metric range | "
                  f"{lb}: metric range |", "|---|---|---|---|---|"]
    groups = sorted({run.rsplit("/", 1)[0] for run in runs})
    for group in groups:
        xs = [a[r] for r in runs if r.rsplit("/", 1)[0] == group]
        ys = [b[r] for r in runs if r.rsplit("/", 1)[0] == group]

        def span(values, i):
            return f"{min(v[i] for v in values):.3g}–{max(v[i] for v in values):.3g}"

        lines.append(f"| {group} | {span(xs, 0)} | {span(ys, 0)} | {span(xs, 1)} | {span(ys, 1)} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="a sweep results folder")
    parser.add_argument("b", help="another one (e.g. its rerun)")
    parser.add_argument("--labels", nargs=2, default=("a", "b"))
    parser.add_argument("--last", type=int, default=1, help="average over each run's last K evaluations")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args(argv)
    text = table(finals(args.a, args.last), finals(args.b, args.last), tuple(args.labels))
    print(text, end="")
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    return text


if __name__ == "__main__":
    main()
