"""Draw where a training iteration's time goes against the matrix-product ceiling.

One horizontal bar per profiled configuration (the ``--json`` files of ``profile_abpt_iteration.py``
and ``profile_shac_iteration.py`` with ``--ceiling``): each phase a segment whose dark part is its
matrix products' time alone and whose light part is everything else, with a mark at each bar's
ceiling (all its products alone) and at 80 % of it (the time the iteration may take at 80 %).

    python benchmarks/plot_phase_bounds.py benchmarks/results/phase_bounds/*.json \
        --out docs/_static/results/phase_bounds.png
"""

from __future__ import annotations

import argparse
import json

#: Phase names as the profile scripts print them -> the legend's shorter names (and colours, in order).
PHASES = {"rollout": "rollout (env + actor)", "objective": "objective", "actor backward": "actor backward + Adam",
          "critic updates": "critic updates"}
COLOURS = ("#4c72b0", "#8172b2", "#dd8452", "#55a868", "#999999")


def _group(name: str) -> str:
    return next((short for key, short in PHASES.items() if name.startswith(key)), "other")


def load(paths: list[str]) -> list[dict]:
    """Each file's label and its time per phase group: ``{"label", "groups": {group: (seconds, alone)}}``."""
    out = []
    for path in paths:
        with open(path) as fh:
            run = json.load(fh)
        groups: dict[str, list[float]] = {}
        for name, row in run["phases"].items():
            g = groups.setdefault(_group(name), [0.0, 0.0])
            g[0] += row["seconds"]
            g[1] += row["matmul_alone_seconds"]
        label = (f"{run['algo']}, {run['threads']} thread{'s' if run['threads'] > 1 else ''}"
                 f"{', compiled' if run['compiled'] else ', eager'}")
        out.append({"label": label, "groups": {k: tuple(v) for k, v in groups.items()}})
    return out


def draw(runs: list[dict], out_png: str, target: float = 0.8) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = [*PHASES.values(), "other"]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.7 * len(runs)))
    for i, run in enumerate(runs):
        left = 0.0
        for group, colour in zip(order, COLOURS):
            if group not in run["groups"]:
                continue
            seconds, alone = run["groups"][group]
            label = group if i == 0 else None
            ax.barh(i, alone, left=left, color=colour, edgecolor="white", linewidth=0.5, label=label)
            ax.barh(i, seconds - alone, left=left + alone, color=colour, alpha=0.35, edgecolor="white", linewidth=0.5)
            left += seconds
        ceiling = sum(alone for _, alone in run["groups"].values())
        ax.plot([ceiling] * 2, [i - 0.45, i + 0.45], color="black", linewidth=1.5)
        ax.plot([ceiling / target] * 2, [i - 0.45, i + 0.45], color="black", linewidth=1.5, linestyle=":")
        ax.text(left + 0.005, i, f"{left:.3f} s ({100 * ceiling / left:.0f} % of the ceiling)", va="center", fontsize=8)
    ax.set_yticks(range(len(runs)), [r["label"] for r in runs])
    ax.invert_yaxis()
    ax.set_xlabel("seconds per iteration (dark: each phase's matrix products alone; light: the rest)\n"
                  f"solid mark: the ceiling (every product alone); dotted: {100 * target:.0f} % of it")
    ax.set_xlim(0, max(sum(s for s, _ in r["groups"].values()) for r in runs) * 1.35)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return out_png


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    return draw(load(args.json), args.out)


if __name__ == "__main__":
    main()
