"""Hyper-parameter presets from the ABPT paper's appendix F, as data.

``preset(algo, env_id, name)`` returns the settings to apply on top of an algorithm's
config defaults. Preset names:

* ``"paper"``: Tables 2 (SHAC), 3 (PPO), 4 (BPTT) and 5 (ABPT) for the four tasks, and
  Table 9 for racing with the velocity-based reward;
* ABPT ablations (Appendix D.1): ``"no_zero_step"`` (Table 6), ``"no_entropy"``
  (Table 7), ``"no_zero_step_no_entropy"`` (Table 8) and ``"no_state_replay"`` (no table
  in the paper: Table 5 with the state buffer off).

Settings shared by every column of a table (100 envs, γ = 0.99, weight decay 1e-5,
λ = 0.95, τ = 0.005, 10 critic steps, horizon 96 for SHAC/ABPT) are the configs'
defaults and are repeated here only where a column differs.
"""

from __future__ import annotations

from typing import Any

TASK_OF_ENV = {
    "DiffQuad-Hover-v0": "hover",
    "DiffQuad-Tracking-v0": "tracking",
    "DiffQuad-Landing-v0": "landing",
    "DiffQuad-Racing-v0": "racing",
    "DiffQuad-RacingVelocity-v0": "racing_velocity",
}

_COMMON = {"num_envs": 100, "gamma": 0.99, "weight_decay": 1e-5}
_CRITIC = {"lam": 0.95, "tau": 0.005, "critic_updates": 10, "horizon": 96}

PAPER: dict[str, dict[str, dict[str, Any]]] = {
    "shac": {  # Table 2 (racing_velocity: Table 9)
        "hover": {"lr": 0.01, "lr_decay": False},
        "tracking": {"lr": 0.01, "lr_decay": False},
        "landing": {"lr": 0.01, "lr_decay": False},
        "racing": {"lr": 0.002, "lr_decay": True},
        "racing_velocity": {"lr": 0.02, "lr_decay": True},
    },
    "bptt": {  # Table 4 (racing_velocity: Table 9)
        "hover": {"lr": 0.01, "lr_decay": False, "horizon": 256},
        "tracking": {"lr": 0.01, "lr_decay": False, "horizon": 256},
        "landing": {"lr": 0.005, "lr_decay": False, "horizon": 256},
        "racing": {"lr": 0.002, "lr_decay": True, "horizon": 512},
        "racing_velocity": {"lr": 0.002, "lr_decay": True, "horizon": 512},
    },
    "abpt": {  # Table 5 (racing_velocity: Table 9)
        "hover": {"lr": 0.01, "lr_decay": False, "replay_size": 1_000_000},
        "tracking": {"lr": 0.01, "lr_decay": True, "replay_size": 1_000_000},
        "landing": {"lr": 0.01, "lr_decay": False, "replay_size": 1_000_000},
        "racing": {"lr": 0.01, "lr_decay": True, "replay_size": 50_000},
        "racing_velocity": {"lr": 0.02, "lr_decay": True, "replay_size": 50_000},
    },
    "ppo": {  # Table 3 (racing_velocity: Table 9); batch_size = the table's "minibatch size"
        "hover": {"learning_rate": 0.001, "batch_size": 25_600},
        "tracking": {"learning_rate": 0.0002, "batch_size": 25_600},
        "landing": {"learning_rate": 0.0005, "batch_size": 25_600},
        "racing": {"learning_rate": 0.001, "batch_size": 51_200},
        "racing_velocity": {"learning_rate": 0.0002, "batch_size": 51_200},
    },
}

# Tables 7 and 8 (ABPT without entropy) use their own learning rates and, for racing,
# no weight decay.
_NO_ENTROPY = {
    "hover": {"lr": 0.01, "lr_decay": False},
    "tracking": {"lr": 0.01, "lr_decay": True},
    "landing": {"lr": 0.002, "lr_decay": False},
    "racing": {"lr": 0.002, "lr_decay": True, "weight_decay": 0.0},
    "racing_velocity": {"lr": 0.002, "lr_decay": True, "weight_decay": 0.0},
}

ABLATIONS: dict[str, dict[str, Any]] = {
    "no_zero_step": {"zero_step": False},  # Table 6 = Table 5's values
    "no_entropy": {"entropy": False},  # Table 7
    "no_zero_step_no_entropy": {"zero_step": False, "entropy": False},  # Table 8
    "no_state_replay": {"state_replay": False},
}

PRESET_NAMES = ("paper", *ABLATIONS)


def preset(algo: str, env_id: str, name: str = "paper") -> dict[str, Any]:
    """Settings of preset ``name`` for ``algo`` on ``env_id`` (an empty dict for unknown envs)."""
    if name not in PRESET_NAMES:
        raise ValueError(f"unknown preset {name!r}; choose one of {PRESET_NAMES}")
    if name != "paper" and algo != "abpt":
        raise ValueError(f"preset {name!r} is an ABPT ablation; use it with algo 'abpt'")
    task = TASK_OF_ENV.get(env_id)
    if task is None:
        return {}
    out: dict[str, Any] = {"num_envs": 100}
    if algo == "ppo":
        out.update({"gamma": 0.99, "n_epochs": 5, "gae_lambda": 1.0, "weight_decay": 1e-5, "n_steps": 256,
                    "batch_size": 25_600})
        out.update(PAPER["ppo"][task])
        if out["batch_size"] > out["n_steps"] * out["num_envs"]:
            out["n_steps"] = out["batch_size"] // out["num_envs"]
        return out
    out.update(_COMMON)
    if algo in ("shac", "abpt"):
        out.update(_CRITIC)
    out.update(PAPER[algo][task])
    if name in ("no_entropy", "no_zero_step_no_entropy"):
        out.update(_NO_ENTROPY[task])
    out.update(ABLATIONS.get(name, {}))
    return out
