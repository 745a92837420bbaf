"""trainers.verdicts: the stated rule on hand-made results."""

import math

import pytest

from trainers.verdicts import bootstrap_ci, check_spec, claims_table, main


def rows_for(algo, finals, env="E", budget=100, variant="base", start=0.0):
    """Two evaluations per seed: ``start`` at step 0 and the seed's final value at ``budget``."""
    out = []
    for seed, final in enumerate(finals):
        for steps, value in ((0, start), (budget, final)):
            out.append({"variant": variant, "algo": algo, "env": env, "seed": float(seed), "env_steps": float(steps),
                        "eval_return": value, "eval_metric": -value})
    return out


def verdict_of(rows, **claim):
    spec = {"results": [], "seeds": 3, "budgets": {"E": {"default": 100}},
            "claims": [{"text": "c", "env": "E", "better": "a", "worse": "b", **claim}]}
    line = claims_table(spec, rows).splitlines()[-1]
    return line.rsplit("**", 2)[-2], line


def test_bootstrap_interval_by_hand():
    assert bootstrap_ci([3.0, 3.0, 3.0]) == (3.0, 3.0)
    # Two values: resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4.
    assert bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)
    lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert 1.0 < lo < 3.0 < hi < 5.0


def test_rule_holds_does_not_tie_inconclusive():
    a, b = rows_for("a", [10, 11, 12]), rows_for("b", [1, 2, 3])
    assert verdict_of(a + b)[0] == "holds"
    assert verdict_of(rows_for("a", [1, 2, 3]) + rows_for("b", [10, 11, 12]))[0] == "does not hold"
    assert verdict_of(rows_for("a", [1, 5, 9]) + rows_for("b", [2, 4, 8]))[0] == "tie"
    assert verdict_of(rows_for("a", [10, 11]) + b)[0] == "inconclusive"  # 2 seeds of 3
    # Lower is better: the same numbers reverse.
    assert verdict_of(a + b, lower_is_better=True)[0] == "does not hold"
    assert verdict_of(a + b, metric="eval_metric", lower_is_better=True)[0] == "holds"
    verdict, line = verdict_of(a + b)
    assert "a 11 [10, 12]" in line.lower() and "seeds: 10 / 11 / 12" in line and "better in 3/3 seeds" in line


def test_runs_short_of_their_budget_do_not_count():
    short = rows_for("a", [10, 11, 12], budget=50)  # stopped at 50 of 100 steps
    verdict, line = verdict_of(short + rows_for("b", [1, 2, 3]))
    assert verdict == "inconclusive" and "no finished run (3 running)" in line
    spec = {"results": [], "seeds": 3, "budgets": {"E": {"default": 100, "a": 50}},
            "claims": [{"text": "c", "env": "E", "better": "a", "worse": "b"}]}
    assert "**holds**" in claims_table(spec, short + rows_for("b", [1, 2, 3]))


def test_steps_to_a_level():
    """Env steps until a seed first reaches the level; a seed that never does counts the budget."""
    fast = [{"variant": "base", "algo": "a", "env": "E", "seed": float(s), "env_steps": float(x),
             "eval_return": v, "eval_metric": math.nan} for s in range(3) for x, v in ((0, 0), (20, 5), (100, 6))]
    slow = rows_for("b", [6, 6, 4])  # reach 5 only at the end (100), and seed 2 never
    verdict, line = verdict_of(fast + slow, steps_to=5.0)
    assert verdict == "holds" and "seeds: 20 / 20 / 20" in line and "seeds: 100 / 100 / 100" in line


def test_values_at_equal_env_steps():
    """``at``: each seed's first evaluation at or after that many steps, so that a long run is
    compared with a short one where both have been; a run that has not got there does not count."""
    def curve(algo, values, seeds=3):  # evaluations at 0, 50, 100, 150, ... steps
        return [{"variant": "base", "algo": algo, "env": "E", "seed": float(s), "env_steps": 50.0 * i,
                 "eval_return": v + s, "eval_metric": math.nan} for s in range(seeds) for i, v in enumerate(values)]
    long_run = curve("a", [0, 1, 2, 30, 40])  # to 200 steps; 2 / 3 / 4 at 100, 40 / 41 / 42 at the end
    short_run = curve("b", [0, 5, 10])  # to 100 steps: 10 / 11 / 12
    verdict, line = verdict_of(long_run + short_run, at=100)
    assert verdict == "does not hold" and "seeds: 2 / 3 / 4" in line and "at 100 env steps" in line
    assert verdict_of(long_run + short_run)[0] == "holds"  # the ends: 40-42 against 10-12
    assert verdict_of(long_run + short_run, at=60)[0] == "does not hold"  # 60 -> the evaluation at 100
    verdict, line = verdict_of(long_run + short_run, at=150)
    assert verdict == "inconclusive" and "no finished run (3 running)" in line  # b never reached 150
    # With steps_to: the curve up to there; a seed that has not reached the level counts ``at``.
    verdict, line = verdict_of(long_run + short_run, at=100, steps_to=5)
    assert verdict == "does not hold" and "(within 100)" in line
    assert "seeds: 100 / 100 / 100" in line  # a: at most 4 by step 100 (30 only at 150)
    assert "seeds: 50 / 50 / 50" in line  # b: 5 / 6 / 7 at 50


def test_claims_file_errors_and_command(tmp_path):
    with pytest.raises(ValueError, match="missing 'worse'.*\n.*unknown key"):
        check_spec({"results": [], "claims": [{"text": "x", "env": "E", "better": "a"},
                                               {"text": "y", "env": "E", "better": "a", "worse": "b", "colour": 1}]})
    import csv

    results = tmp_path / "results.csv"
    rows = rows_for("a", [10, 11, 12]) + rows_for("b", [1, 2, 3])
    with open(results, "w", newline="") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    claims = tmp_path / "claims.toml"
    claims.write_text(f'results = ["{results}"]\nseeds = 3\n[budgets.E]\ndefault = 100\n'
                      '[[claims]]\ntext = "a beats b"\nenv = "E"\nbetter = "a"\nworse = "b"\n')
    table = main([str(claims), "--out", str(tmp_path / "v.md")])
    assert "| a beats b |" in table and "**holds**" in table and (tmp_path / "v.md").read_text() == table
    # A results file the claims name but no run has written yet: no finished runs, said under the table.
    later = tmp_path / "later" / "results.csv"
    claims.write_text(f'results = ["{results}", "{later}"]\nseeds = 3\n[budgets.E]\ndefault = 100\n'
                      '[[claims]]\ntext = "a beats c"\nenv = "E"\nbetter = "a"\nworse = "c"\n')
    table = main([str(claims), "--out", str(tmp_path / "v.md")])
    assert "**inconclusive**" in table and table.rstrip().endswith(f"No results yet: `{later}`.")
