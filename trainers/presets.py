"""Hyper-parameter presets, read from the env registry.

Every registered id carries its training settings in its robot's ``ENVS`` table
(:attr:`diffenvs.contract.EnvSpec.presets`); the quadrotor ids carry the ABPT paper's
appendix F (:mod:`diffenvs.robots.quadrotor.presets`). ``preset(algo, env_id, name)``
returns the settings to apply on top of an algorithm's config defaults:

* ``"default"``: the env's ``"default"`` preset; for an env with ``"paper"`` settings, the
  paper's settings with the env's ``"default"`` entries (if any) on top (e.g. Hover's ABPT
  holds κ at 0.01 and decays the learning rate);
* ``"paper"``: the paper's settings (Tables 2 SHAC, 3 PPO, 4 BPTT, 5 ABPT, 9 velocity racing);
* any other preset the env defines for that algorithm (e.g. the navigation id's
  ``"fast"``), as it is;
* ABPT ablations (Appendix D.1): ``"no_zero_step"`` (Table 6), ``"no_entropy"``
  (Table 7), ``"no_zero_step_no_entropy"`` (Table 8) and ``"no_state_replay"`` (no table
  in the paper: Table 5 with the state buffer off). Tables 7 and 8 change learning rates
  per task: the env's ``"no_entropy"`` preset.

Settings shared by every column of the paper's tables (100 envs, γ = 0.99, weight decay
1e-5, λ = 0.95, τ = 0.005, 10 critic steps, horizon 96 for SHAC/ABPT; PPO's 5 epochs,
λ = 1 and 256-step rollouts) are added to the ``"paper"`` presets here.
"""

from __future__ import annotations

from typing import Any

from diffenvs.registry import find_spec

_COMMON = {"num_envs": 100, "gamma": 0.99, "weight_decay": 1e-5}
_CRITIC = {"lam": 0.95, "tau": 0.005, "critic_updates": 10, "horizon": 96}
_PPO = {"num_envs": 100, "gamma": 0.99, "n_epochs": 5, "gae_lambda": 1.0, "weight_decay": 1e-5, "n_steps": 256,
        "batch_size": 25_600}

ABLATIONS: dict[str, dict[str, Any]] = {
    "no_zero_step": {"zero_step": False},  # Table 6 = Table 5's values
    "no_entropy": {"entropy": False},  # Table 7
    "no_zero_step_no_entropy": {"zero_step": False, "entropy": False},  # Table 8
    "no_state_replay": {"state_replay": False},
}

PRESET_NAMES = ("default", "paper", *ABLATIONS)


def _env_presets(env_id: str) -> dict[str, Any]:
    spec = find_spec(env_id)
    return dict(spec.presets) if spec is not None else {}


def env_preset_names(env_id: str) -> tuple[str, ...]:
    """The presets ``env_id`` defines beyond the shared :data:`PRESET_NAMES` (e.g. ``"fast"``)."""
    return tuple(k for k in _env_presets(env_id) if k not in PRESET_NAMES)


def preset(algo: str, env_id: str, name: str = "default") -> dict[str, Any]:
    """Settings of preset ``name`` for ``algo`` on ``env_id`` (an empty dict for ids without presets)."""
    presets = _env_presets(env_id)
    own = env_preset_names(env_id)
    if name not in PRESET_NAMES and name not in own:
        raise ValueError(f"unknown preset {name!r}; choose one of {(*PRESET_NAMES, *own)}")
    if name in own:
        if algo not in presets[name]:
            raise ValueError(f"preset {name!r} of {env_id} has no settings for {algo!r}; it has them for "
                             f"{sorted(presets[name])}")
        return dict(presets[name][algo])
    if name in ABLATIONS and algo != "abpt":
        raise ValueError(f"preset {name!r} is an ABPT ablation; use it with algo 'abpt'")
    paper = presets.get("paper")
    if name == "default" and paper is None and "default" in presets:
        return dict(presets["default"].get(algo, {}))
    if paper is None:
        if name != "default":
            raise ValueError(f"env {env_id!r} has no paper presets; use preset 'default' or None")
        return {}
    if algo == "ppo":
        out = dict(_PPO)
        out.update(paper.get("ppo", {}))
        if out["batch_size"] > out["n_steps"] * out["num_envs"]:
            out["n_steps"] = out["batch_size"] // out["num_envs"]
    else:
        out = dict(_COMMON)
        if algo in ("shac", "abpt"):
            out.update(_CRITIC)
        out.update(paper.get(algo, {}))
        if name in ("no_entropy", "no_zero_step_no_entropy"):
            out.update(presets.get("no_entropy", {}).get(algo, {}))
        out.update(ABLATIONS.get(name, {}))
    if name == "default":  # where the library departs from the paper (e.g. Hover's held κ)
        out.update(presets.get("default", {}).get(algo, {}))
    return out
