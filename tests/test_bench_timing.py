"""The benchmarks' matrix-product ceiling counts what an iteration multiplies, forward and backward."""

from __future__ import annotations

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
timing = pytest.importorskip("timing")


def test_matmul_ceiling_counts_forward_and_backward_products():
    w = torch.randn(32, 16, requires_grad=True)
    x = torch.randn(64, 32, requires_grad=True)

    def step():
        (x @ w).relu().sum().backward()  # one product forward, two backward (for x and for w)

    out = timing.matmul_ceiling(step, seconds_per_call=1.0, min_time=0.01)
    assert out["gflop_per_call"] == pytest.approx(3 * 2 * 64 * 32 * 16 / 1e9)
    assert out["matmul_shapes"] == 3  # (64x32 @ 32x16), (64x16 @ 16x32), (32x64 @ 64x16)
    assert out["sustained_gflops"] == pytest.approx(out["gflop_per_call"])
    assert 0 < out["share"] < 1 and out["ceiling_gflops"] > 0



def test_phase_bounds_give_each_phase_the_ceiling_share_it_allows_alone(monkeypatch):
    """Every product taking 0.5 s alone: phase a (1 s, one product) and b (2 s, two products of
    one shape, timed once) give a ceiling of 1.5 s; with only a as it is, the call takes
    1 + 1 = 2 s (75 %), with only b 2 + 0.5 = 2.5 s (60 %, under 80 % by itself)."""
    timed_shapes = []

    def rate(fn, n_items, min_time):
        timed_shapes.append(n_items)
        return n_items / 0.5

    monkeypatch.setattr(timing, "rate", rate)
    x, w, v = torch.randn(4, 3), torch.randn(3, 2), torch.randn(3, 5)
    shapes = timing.PhaseShapes()
    assert torch.equal(shapes("a", lambda: x @ w), x @ w)
    shapes("b", lambda: (x @ v, x @ v))
    rows, table = timing.phase_bounds({"a": 1.0, "b": 2.0}, shapes)
    assert len(timed_shapes) == 2
    assert rows["a"]["matmul_alone_seconds"] == pytest.approx(0.5)
    assert rows["b"]["matmul_alone_seconds"] == pytest.approx(1.0)
    assert rows["a"]["bound"] == pytest.approx(0.75) and rows["b"]["bound"] == pytest.approx(0.6)
    assert "| b | 2.000 | 1.000 | 60 % (under the target by itself) |" in table
    assert "| a | 1.000 | 0.500 | 75 % (under the target by itself) |" in table
    assert "1.875 s" in table  # 80 % of the ceiling

def test_compare_reruns_pairs_runs_and_reports_the_last_evaluation(tmp_path):
    """Two sweep folders with one common run: its last evaluation and training time on each side,
    and the per-group ranges; a run in only one folder is left out."""
    compare_reruns = pytest.importorskip("compare_reruns")

    def write(root, runs):  # a sweep's gathered results.csv: {seed: [(wall_time, eval_return, eval_metric)]}
        lines = ["variant,algo,env,seed,iteration,env_steps,wall_time,eval_return,eval_metric"]
        for seed, evals in runs.items():
            for i, (t, r, m) in enumerate(evals):
                cells = ("" if r is None else r, "" if m is None else m)
                lines.append(f"base,shac,Env-v0,{seed},{i},{i * 10},{t},{cells[0]},{cells[1]}")
        (tmp_path / root).mkdir()
        (tmp_path / root / "results.csv").write_text("\n".join(lines) + "\n")

    write("a", {0: [(0.0, 1.0, 0.5), (5.0, None, None), (9.0, 3.0, 0.25)], 1: [(0.0, 1.0, 0.5)]})
    write("b", {0: [(0.0, 1.0, 0.5), (2.0, 4.0, 0.125)]})
    text = compare_reruns.main([str(tmp_path / "a"), str(tmp_path / "b"), "--labels", "old", "new"])
    assert "| base/shac/Env-v0/s0 | 3.0 | 0.250 | 9 | 4.0 | 0.125 | 2 |" in text
    assert "s1" not in text
    assert "| base/shac/Env-v0 | 3–3 | 4–4 | 0.25–0.25 | 0.125–0.125 |" in text
    text = compare_reruns.main([str(tmp_path / "a"), str(tmp_path / "b"), "--last", "2"])
    assert "| base/shac/Env-v0/s0 | 2.0 | 0.375 | 9 | 2.5 | 0.312 | 2 |" in text


def test_phase_bounds_json_and_figure(tmp_path):
    """save_phases writes a configuration's rows; plot_phase_bounds groups its phases (replay starts and
    bookkeeping as "other") and draws one bar per file."""
    pytest.importorskip("matplotlib")
    plot = pytest.importorskip("plot_phase_bounds")
    rows = {"replay starts": {"seconds": 0.001, "matmul_alone_seconds": 0.0, "bound": 0.99},
            "rollout (simulator + actor, forward)": {"seconds": 0.08, "matmul_alone_seconds": 0.01, "bound": 0.7},
            "critic updates": {"seconds": 0.2, "matmul_alone_seconds": 0.15, "bound": 0.75},
            "bookkeeping": {"seconds": 0.002, "matmul_alone_seconds": 0.0, "bound": 0.99}}
    paths = []
    for threads, compiled in ((2, False), (1, True)):
        paths.append(str(tmp_path / f"run{threads}.json"))
        timing.save_phases(paths[-1], "ABPT", threads, compiled, rows)
    runs = plot.load(paths)
    assert [r["label"] for r in runs] == ["ABPT, 2 threads, eager", "ABPT, 1 thread, compiled"]
    assert runs[0]["groups"]["other"] == pytest.approx((0.003, 0.0))
    assert runs[0]["groups"]["critic updates"] == (0.2, 0.15)
    out = plot.main([*paths, "--out", str(tmp_path / "bounds.png")])
    assert (tmp_path / "bounds.png").stat().st_size > 10_000 and out.endswith("bounds.png")
