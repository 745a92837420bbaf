"""Compare bench_env.py (or bench_depth.py) JSON results of two versions (e.g. before and after a change).

Usage::

    python benchmarks/compare_bench.py --a before_1.json before_2.json --b after_1.json after_2.json \\
        [--labels before after]

Prints a Markdown table: per row (N, and the image size for bench_depth.py) and measure,
min / median / max rate of each side over its runs, and the ratio of the medians (b / a).
"""

from __future__ import annotations

import argparse
import json
import statistics


def load(paths: list[str]) -> dict[tuple[str, str], list[float]]:
    """``{(row label, measure): [rate per file]}``; a row is labelled by its ``N`` and its
    text fields (e.g. the image size)."""
    out: dict[tuple[str, str], list[float]] = {}
    for path in paths:
        with open(path) as fh:
            for row in json.load(fh)["rows"]:
                label = " ".join([*(str(v) for v in row.values() if isinstance(v, str)), str(row["N"])])
                for key, value in row.items():
                    if key != "N" and not isinstance(value, str):
                        out.setdefault((label, key), []).append(float(value))
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
