"""Settings every trainer shares (each algorithm's config dataclass extends this one)."""

from __future__ import annotations

import ast
import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from diffenvs.contract import describe_type, type_problem


@dataclass
class TrainConfig:
    """Run settings shared by all algorithms.

    Attributes:
        env_id: registered Gymnasium id (any env implementing
            the diffenvs contract, :func:`diffenvs.contract.check_vector_env`, through ``gym.make_vec``).
        seed: seeds the env, the networks and the action noise; equal seeds give
            identical runs.
        num_envs: parallel envs (the paper: 100).
        total_steps: training budget in env steps (one drone, one control step).
        eval_every: evaluate the deterministic policy every this many env steps (0: only
            at the end).
        eval_envs: episodes per evaluation (one per env, run in one batch).
        log_dir: folder for ``progress.csv``, TensorBoard events and checkpoints
            (``None``: ``runs/<algo>-<env_id>-s<seed>``).
        checkpoint_every: write ``checkpoint.pt`` every this many env steps (0: only at
            the end).
        tensorboard: also write TensorBoard event files (needs ``tensorboard``).
        progress: show a progress bar.
        device: torch device for the env and the networks.
        compile: build the env with ``compile=True`` (torch.compile of the step).
        env_kwargs: extra keyword arguments for ``gym.make_vec`` (e.g. ``task_options``).
        residual: residual (anchor) learning: ``None`` (off), ``"classical"`` (the
            robot's classical controller), a named anchor shipped with the package
            (:data:`trainers.anchors.ANCHORS`, e.g. ``"quadruped-trot"``) or the path of a
            saved checkpoint whose deterministic policy becomes the frozen anchor.
        overwrite: a fresh run in a ``log_dir`` that holds a previous run's files
            (``progress.csv``, ``checkpoint.pt``, TensorBoard events) deletes them first;
            ``False`` (default): that is an error naming the fixes (continue the previous
            run with ``learn(resume=True)`` / ``--resume``, or use another ``log_dir``).
    """

    env_id: str = "DiffQuad-Hover-v0"
    seed: int = 0
    num_envs: int = 100
    total_steps: int = 1_000_000
    eval_every: int = 100_000
    eval_envs: int = 32
    log_dir: str | None = None
    checkpoint_every: int = 0
    tensorboard: bool = True
    progress: bool = True
    device: str = "cpu"
    compile: bool = False
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    residual: str | None = None
    overwrite: bool = False


def config_to_dict(cfg) -> dict[str, Any]:
    """A dataclass config as plain data (checkpoint- and JSON-safe)."""
    return dataclasses.asdict(cfg)


def config_from_dict(cls, data: dict[str, Any]):
    """Rebuild ``cls`` from :func:`config_to_dict` output (nested dataclasses included)."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            value = type(default)(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
        kwargs[f.name] = value
    return cls(**kwargs)


def apply_overrides(cfg, overrides: dict[str, Any]):
    """Return a copy of ``cfg`` with fields replaced; ``net.<field>`` reaches nested configs.

    A dict given for a dict-valued field (``env_kwargs``) merges into the current one, key
    by key and recursively (``{"task_options": {"nose_length": 0}}`` on top of a preset's
    ``{"task_options": {"depth_noise": 1}}`` keeps the noise). Unknown names raise
    ``ValueError`` listing the valid ones.
    """
    flat, nested = {}, {}
    for key, value in overrides.items():
        if "." in key:
            outer, inner = key.split(".", 1)
            nested.setdefault(outer, {})[inner] = value
        else:
            flat[key] = value
    valid = {f.name for f in dataclasses.fields(cfg)}
    unknown = sorted((set(flat) | set(nested)) - valid)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for {type(cfg).__name__}; valid: {sorted(valid)}")
    for outer, inner in nested.items():
        sub = getattr(cfg, outer)
        sub_valid = {f.name for f in dataclasses.fields(sub)}
        bad = sorted(set(inner) - sub_valid)
        if bad:
            raise ValueError(f"unknown setting(s) {bad} for {outer}; valid: {sorted(sub_valid)}")
        for key, value in inner.items():
            check_setting(type(sub), key, value, f"{outer}.{key}")
        flat[outer] = dataclasses.replace(sub, **inner)
    for key, value in flat.items():
        if key not in nested:
            check_setting(type(cfg), key, value, key)
            if isinstance(value, dict) and isinstance(getattr(cfg, key), dict):
                flat[key] = merge_dicts(getattr(cfg, key), value)
    return dataclasses.replace(cfg, **flat)


def merge_dicts(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``, merging nested dicts recursively (new dicts; neither
    argument is modified)."""
    out = dict(base)
    for key, value in update.items():
        out[key] = merge_dicts(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out


#: Ranges of numeric settings, by name (checked by :func:`check_setting`).
_POSITIVE_INT = {"num_envs", "total_steps", "eval_envs", "horizon", "critic_updates", "critic_minibatches", "n_steps",
                 "batch_size", "n_epochs", "replay_size", "feature_dim"}
_NON_NEGATIVE = {"eval_every", "checkpoint_every", "weight_decay", "max_grad_norm", "ent_coef", "vf_coef",
                 "init_log_std", "log_std_init", "critic_warmup", "alpha_lr"}
_POSITIVE = {"lr", "learning_rate", "critic_lr", "clip_range", "init_alpha", "std_scale",
             "last_layer_scale"}
_UNIT = {"gamma", "lam", "tau", "gae_lambda"}  # (0, 1]
_PROBABILITY = {"replay_prob", "zero_step_weight"}  # [0, 1]


def check_setting(cls: type, key: str, value: Any, label: str) -> None:
    """Raise ``ValueError`` naming the setting if ``value`` has the wrong type or range for
    field ``key`` of the config dataclass ``cls``."""
    hint = typing.get_type_hints(cls).get(key)
    problem = type_problem(value, hint) if hint is not None else ""
    if problem:
        raise ValueError(f"setting {label!r} must be {describe_type(hint)}, got {value!r} ({problem})")
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    if key in _POSITIVE_INT and value < 1:
        raise ValueError(f"setting {label!r} must be a positive int, got {value!r}")
    if key in _NON_NEGATIVE and key not in ("init_log_std", "log_std_init") and value < 0:
        raise ValueError(f"setting {label!r} must be >= 0, got {value!r}")
    if key in _POSITIVE and not value > 0:
        raise ValueError(f"setting {label!r} must be > 0, got {value!r}")
    if key in _UNIT and not 0 < value <= 1:
        raise ValueError(f"setting {label!r} must lie in (0, 1], got {value!r}")
    if key in _PROBABILITY and not 0 <= value <= 1:
        raise ValueError(f"setting {label!r} must lie in [0, 1], got {value!r}")


def _parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_set_items(items: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` (the ``--set`` options) as a dict, values parsed as Python
    literals (``true``/``false``/``none`` too; anything else stays a string)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = _parse_value(value.strip())
    return out
