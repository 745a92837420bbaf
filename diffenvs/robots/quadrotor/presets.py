"""Training settings of the ABPT paper (appendix F, Tables 2-9) for the quadrotor ids, as data.

``PRESETS[task][preset][algo]`` holds what a table's column sets for that task; the
settings every column shares (100 envs, γ = 0.99, weight decay 1e-5, λ = 0.95,
τ = 0.005, 10 critic steps, horizon 96 for SHAC/ABPT; PPO's epochs, λ and rollout
length) are in :mod:`trainers.presets`.

* ``"paper"``: Tables 2 (SHAC), 3 (PPO), 4 (BPTT) and 5 (ABPT) for the four tasks, and
  Table 9 for racing with the velocity-based reward;
* ``"no_entropy"``: the learning rates of Tables 7 and 8 (ABPT without entropy; for
  racing also no weight decay);
* ``"default"`` (Hover only): what the library trains with by default where it departs from
  the paper, as changes on top of ``"paper"``. Hover's ABPT holds the entropy temperature κ at
  0.01 instead of adapting it: with the adaptive κ only 3 of 12 seeds stay under 0.1 m, with
  κ held at 0.01 all 12 did (``docs/benchmarks.md``, "Why Hover seeds drift out"). It also
  decays the learning rate linearly over the run (as the paper does for Racing): with the
  whole-env native step, κ held and a constant rate, 11 of 12 seeds stay solved (seed 4 is
  pushed out to 0.138 m at its last evaluation by a late gradient spike that Adam turns into a
  full-size step); with the decay, 12 of 12 do.
"""

from __future__ import annotations

from typing import Any


def _task(shac: dict, bptt: dict, abpt: dict, ppo: dict, no_entropy: dict,
          default: dict | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    out = {"paper": {"shac": shac, "bptt": bptt, "abpt": abpt, "ppo": ppo}, "no_entropy": {"abpt": no_entropy}}
    if default:
        out["default"] = default
    return out


PRESETS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "hover": _task(
        shac={"lr": 0.01, "lr_decay": False},
        bptt={"lr": 0.01, "lr_decay": False, "horizon": 256},
        abpt={"lr": 0.01, "lr_decay": False, "replay_size": 1_000_000},
        ppo={"learning_rate": 0.001, "batch_size": 25_600},
        no_entropy={"lr": 0.01, "lr_decay": False},
        default={"abpt": {"alpha_lr": 0.0, "init_alpha": 0.01, "lr_decay": True}},  # κ held, rate decayed (docstring)
    ),
    "tracking": _task(
        shac={"lr": 0.01, "lr_decay": False},
        bptt={"lr": 0.01, "lr_decay": False, "horizon": 256},
        abpt={"lr": 0.01, "lr_decay": True, "replay_size": 1_000_000},
        ppo={"learning_rate": 0.0002, "batch_size": 25_600},
        no_entropy={"lr": 0.01, "lr_decay": True},
    ),
    "landing": _task(
        shac={"lr": 0.01, "lr_decay": False},
        bptt={"lr": 0.005, "lr_decay": False, "horizon": 256},
        abpt={"lr": 0.01, "lr_decay": False, "replay_size": 1_000_000},
        ppo={"learning_rate": 0.0005, "batch_size": 25_600},
        no_entropy={"lr": 0.002, "lr_decay": False},
    ),
    "racing": _task(
        shac={"lr": 0.002, "lr_decay": True},
        bptt={"lr": 0.002, "lr_decay": True, "horizon": 512},
        abpt={"lr": 0.01, "lr_decay": True, "replay_size": 50_000},
        ppo={"learning_rate": 0.001, "batch_size": 51_200},
        no_entropy={"lr": 0.002, "lr_decay": True, "weight_decay": 0.0},
    ),
    "racing_velocity": _task(  # Table 9
        shac={"lr": 0.02, "lr_decay": True},
        bptt={"lr": 0.002, "lr_decay": True, "horizon": 512},
        abpt={"lr": 0.02, "lr_decay": True, "replay_size": 50_000},
        ppo={"learning_rate": 0.0002, "batch_size": 51_200},
        no_entropy={"lr": 0.002, "lr_decay": True, "weight_decay": 0.0},
    ),
}
