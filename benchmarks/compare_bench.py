"""Compare bench_env.py JSON results of two versions (e.g. before and after a change).

Usage::

    python benchmarks/compare_bench.py --a before_1.json before_2.json --b after_1.json after_2.json \\
        [--labels before after]

Prints a Markdown table: per N and measure, min / median / max env-steps/s of each side
over its runs, and the ratio of the medians (b / a).
"""

from __future__ import annotations

import argparse
import json
import statistics


def load(paths: list[str]) -> dict[tuple[int, str], list[float]]:
    out: dict[tuple[int, str], list[float]] = {}
    for path in paths:
        with open(path) as fh:
            for row in json.load(fh)["rows"]:
                for key, value in row.items():
                    if key != "N":
                        out.setdefault((row["N"], key), []).append(float(value))
    return out


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", nargs="+", required=True)
    parser.add_argument("--b", nargs="+", required=True)
    parser.add_argument("--labels", nargs=2, default=["a", "b"])
    args = parser.parse_args(argv)
    a, b = load(args.a), load(args.b)
    la, lb = args.labels
    lines = [f"| N | measure | {la}: min / median / max | {lb}: min / median / max | {lb} / {la} (medians) |",
             "|---|---|---|---|---|"]
    for key in a:
        if key not in b:
            continue
        va, vb = sorted(a[key]), sorted(b[key])
        ma, mb = statistics.median(va), statistics.median(vb)
        fmt = lambda v: f"{v[0]:.3g} / {statistics.median(v):.3g} / {v[-1]:.3g}"  # noqa: E731
        lines.append(f"| {key[0]} | {key[1]} | {fmt(va)} | {fmt(vb)} | {mb / ma:.2f} |")
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
