"""Command line: ``diffenvs-train`` (also ``python -m trainers``).

Train::

    diffenvs-train abpt --env DiffQuad-Hover-v0 --seed 0 --steps 1000000
    diffenvs-train shac --env DiffQuad-Racing-v0 --set horizon=64 --set net.layer_norm=true
    diffenvs-train ppo --env DiffQuad-Landing-v0 --residual classical
    diffenvs-train abpt --env DiffQuad-Hover-v0 --resume          # continue runs/abpt-...-s0

Sweeps, the paper's figures and verdicts on claims (see :mod:`trainers.sweep`,
:mod:`trainers.figures`, :mod:`trainers.verdicts`)::

    diffenvs-train sweep benchmarks/sweeps/figure4.toml --out benchmarks/results/figure4
    diffenvs-train figures benchmarks/results/figure4/results.csv --out docs/_static/results
    diffenvs-train verdicts benchmarks/claims/figure4_paper.toml --out verdicts.md

Evaluate a checkpoint (task success metrics; optional animation)::

    diffenvs-train eval runs/abpt-DiffQuad-Hover-v0-s0/checkpoint.pt --gif flight.gif

List presets::

    diffenvs-train presets abpt --env DiffQuad-Racing-v0
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

import diffenvs
from diffenvs.registry import find_spec

from . import ALGORITHMS, make_config, trainer_class
from .core.config import parse_set_items
from .core.loop import default_log_dir, previous_run
from .core.summary import print_summary, run_summary, write_summary
from .presets import PRESET_NAMES, env_preset_names, preset


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0: never), got {text!r}")
    return value


def _size(text: str) -> tuple[int, int]:
    """``"320x240"`` -> ``(320, 240)``."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT in pixels, e.g. 320x240, got {text!r}") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return width, height


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an int, got {text!r}") from None


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help with each option's default, and examples kept as written."""


#: One line and an example per subcommand (``diffenvs-train --help`` and each subcommand's help).
_ABOUT = {
    "bptt": ("train with backpropagation through time (short-horizon, truncated)",
             "diffenvs-train bptt --env DiffPointMass-Reach-v0 --steps 20000"),
    "shac": ("train with SHAC (short-horizon actor-critic)",
             "diffenvs-train shac --env DiffQuadruped-Walk-v0 --residual quadruped-trot --steps 400000"),
    "abpt": ("train with ABPT (amended backpropagation through time, the ABPT paper's method)",
             "diffenvs-train abpt --env DiffQuad-Hover-v0 --steps 1000000"),
    "ppo": ("train with stable-baselines3 PPO (the zeroth-order baseline)",
            "diffenvs-train ppo --env DiffQuad-Landing-v0 --residual classical"),
    "eval": ("evaluate a checkpoint: return, success and the task's metrics; optional animation",
             "diffenvs-train eval runs/shac-DiffQuad-Hover-v0-s0/checkpoint.pt --gif hover.gif"),
    "export": ("write a checkpoint's policy as a small self-contained torch.export file for deployment",
               "diffenvs-train export runs/shac-DiffQuad-Hover-v0-s0/checkpoint.pt --out hover_policy.pt2"),
    "presets": ("show the hyper-parameter presets of an env id",
                "diffenvs-train presets shac --env DiffNav-PointMass-v0"),
    "sweep": ("run a declarative sweep (algorithms x envs x seeds x variants), resumable",
              "diffenvs-train sweep benchmarks/sweeps/quadruped.toml --out results/quadruped --workers 2"),
    "figures": ("draw the results figures and tables from sweeps' results.csv",
                "diffenvs-train figures results/quadruped/results.csv --out figures --figs runs"),
    "verdicts": ("judge claims about sweep results by a stated rule (bootstrap intervals over seeds)",
                 "diffenvs-train verdicts benchmarks/claims/figure4_paper.toml --out verdicts.md"),
}


def _sub(sub, name: str) -> argparse.ArgumentParser:
    about, example = _ABOUT[name]
    return sub.add_parser(name, help=about, description=about[0].upper() + about[1:] + ".",
                          epilog=f"example:\n  {example}", formatter_class=_Formatter)


def settings_help(cls) -> str:
    """Every ``--set`` field of a trainer's config dataclass with its type and default
    (nested dataclasses as ``net.<field>``), for ``--help``."""
    import dataclasses
    import typing

    def lines(cfg_cls, instance, prefix):
        hints = typing.get_type_hints(cfg_cls)
        for f in dataclasses.fields(cfg_cls):
            value = getattr(instance, f.name)
            if dataclasses.is_dataclass(value):
                yield from lines(type(value), value, f"{prefix}{f.name}.")
            else:
                kind = getattr(hints[f.name], "__name__", None) or str(hints[f.name]).replace("typing.", "")
                yield f"  {prefix}{f.name}: {kind} = {value!r}"

    return "settings for --set KEY=VALUE (type = default before presets):\n" + "\n".join(lines(cls, cls(), ""))


def _train_parser(sub, algo: str) -> None:
    p = _sub(sub, algo)
    own_help = p.format_help  # the settings list imports the trainer (PPO: stable-baselines3): only on --help
    p.format_help = lambda: f"{own_help()}\n{settings_help(trainer_class(algo).Config)}\n"
    p.add_argument("--env", default="DiffQuad-Hover-v0", help="registered env id")
    p.add_argument("--seed", type=int, default=0, help="seed of the run (env, networks, sampling)")
    p.add_argument("--preset", default="default",
                   help=f"hyper-parameter preset: {', '.join(PRESET_NAMES)}, one the env defines "
                        f"(`diffenvs-train presets --env ID`) or none")
    p.add_argument("--steps", type=_positive_int, default=None, help="total env steps")
    p.add_argument("--num-envs", type=_positive_int, default=None, help="parallel envs (default: the preset's)")
    p.add_argument("--residual", default=None, help="anchor for residual learning: 'classical', a named anchor "
                   "(quadruped-trot) or a checkpoint")
    p.add_argument("--eval-every", type=_non_negative_int, default=None, help="env steps between evaluations")
    p.add_argument("--checkpoint-every", type=_non_negative_int, default=None, help="env steps between checkpoints")
    p.add_argument("--log-dir", default=None, help="run folder (default: runs/<algo>-<env>-s<seed>, numbered "
                   "-2, -3, ... when taken)")
    p.add_argument("--device", default=None, help="torch device of the env and networks, e.g. cuda (default: cpu)")
    p.add_argument("--compile", action="store_true", help="torch.compile the env step")
    p.add_argument("--resume", action="store_true", help="continue from <log-dir>/checkpoint.pt (without --log-dir: "
                   "the latest run of this algorithm, env and seed)")
    p.add_argument("--overwrite", action="store_true", help="start afresh in --log-dir, deleting the previous run's "
                   "log, checkpoint and TensorBoard files there")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard event files")
    p.add_argument("--json", action="store_true", help="end with one JSON line of the results instead of the "
                   "summary table (the run folder's summary.json has them either way)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any config field, e.g. --set lr=0.003 --set net.layer_norm=true")


def _settings(args) -> dict[str, Any]:
    s = {"seed": args.seed}
    for name, key in (("steps", "total_steps"), ("num_envs", "num_envs"), ("residual", "residual"),
                      ("eval_every", "eval_every"), ("checkpoint_every", "checkpoint_every"),
                      ("log_dir", "log_dir"), ("device", "device")):
        value = getattr(args, name)
        if value is not None:
            s[key] = value
    if args.compile:
        s["compile"] = True
    if args.no_progress:
        s["progress"] = False
    if args.no_tensorboard:
        s["tensorboard"] = False
    if args.overwrite:
        s["overwrite"] = True
    s.update(parse_set_items(args.set))
    return s


def check_env_id(env_id: str) -> None:
    """``ValueError`` with the closest diffenvs ids unless ``env_id`` is a registered diffenvs id."""
    if find_spec(env_id) is not None:
        return
    ids = sorted(diffenvs.env_specs())
    import difflib

    import gymnasium as gym

    close = [i for i in ids if env_id.lower() in i.lower()] or difflib.get_close_matches(env_id, ids, n=3, cutoff=0.4)
    hint = f"did you mean {' or '.join(close[:3])}?" if close else f"diffenvs ids: {', '.join(ids)}"
    if env_id in gym.registry:
        raise ValueError(f"{env_id!r} is a Gymnasium env of another package, not a differentiable diffenvs env; "
                         f"diffenvs-train trains diffenvs ids ({hint})")
    raise ValueError(f"unknown env id {env_id!r}; {hint}")


def _numbered(base: str) -> list[str]:
    """The existing folders ``base``, ``base-2``, ``base-3``, ... (up to the first gap)."""
    out, k = ([base] if os.path.isdir(base) else []), 2
    while os.path.isdir(f"{base}-{k}"):
        out.append(f"{base}-{k}")
        k += 1
    return out


def _free_run_dir(base: str) -> str:
    """``base`` if it holds no run, else the first ``base-k`` (k = 2, 3, ...) that does not."""
    if not previous_run(base):
        return base
    k = 2
    while previous_run(f"{base}-{k}"):
        k += 1
    return f"{base}-{k}"


def train(args) -> dict[str, float]:
    check_env_id(args.env)
    settings = _settings(args)
    cls = trainer_class(args.command)
    cfg = make_config(args.command, args.env, None if args.preset in ("none", "") else args.preset, **settings)
    log_dir = default_log_dir(args.command, cfg)
    if not cfg.log_dir and not args.overwrite:
        # The default folder runs/<algo>-<env>-s<seed>: a new run goes to the first free one of
        # runs/...-2, -3, ...; --resume continues the latest run there.
        taken = [d for d in _numbered(log_dir) if previous_run(d)]
        if args.resume and taken:
            log_dir = taken[-1]
        elif not args.resume and taken:
            log_dir = _free_run_dir(log_dir)
            print(f"{taken[-1]} holds a previous run: this run writes to {log_dir} (--resume continues the previous "
                  f"run)", flush=True)
    ckpt = os.path.join(log_dir, "checkpoint.pt")
    if args.resume:
        if not os.path.exists(ckpt):
            raise SystemExit(f"--resume: no checkpoint at {ckpt}")
        resumable = ("total_steps", "progress", "tensorboard", "eval_every", "checkpoint_every", "log_dir")
        overrides = {k: v for k, v in settings.items() if k in resumable and k != "log_dir"}
        trainer = cls.from_checkpoint(ckpt, **overrides)
        asked = {"env_id": cfg.env_id, **{k: getattr(cfg, k) for k in settings if k not in resumable and "." not in k}}
        asked.update({k: getattr(getattr(cfg, k.split(".")[0]), k.split(".")[1]) for k in settings if "." in k})
        conflicts = [f"{k}: checkpoint {_get(trainer.cfg, k)!r}, asked {v!r}" for k, v in asked.items()
                     if _get(trainer.cfg, k) != v]
        if conflicts:
            raise SystemExit(f"--resume: {ckpt} was trained with other settings ({'; '.join(conflicts)}); drop them "
                             f"to continue that run, or start a new run in another --log-dir")
        cfg = trainer.cfg  # report what is actually trained
        print(f"resuming {args.command} from {ckpt} at {trainer.env_steps} env steps", flush=True)
    else:
        trainer = cls(cfg)
    trainer.log_dir = log_dir
    result = trainer.learn(resume=args.resume)
    trainer.save(ckpt)
    summary = run_summary(trainer, result, checkpoint=ckpt)
    write_summary(summary, log_dir)
    if args.json:
        print(json.dumps({"algo": args.command, "env": cfg.env_id, "seed": cfg.seed, "env_steps": trainer.env_steps,
                          "wall_time": round(trainer.wall_time, 2), **_rounded(result)}), flush=True)
    else:
        print_summary(summary)
        print(f"summary: {os.path.join(log_dir, 'summary.json')}", flush=True)
    return result


def _get(cfg, key: str):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def evaluate_checkpoint(args) -> dict[str, float]:
    from .core.checkpoint import load_checkpoint
    from .core.evaluate import evaluate
    from .core.loop import make_train_env

    state = load_checkpoint(args.checkpoint)
    cls = trainer_class(state["algo"])
    trainer = cls.from_checkpoint(args.checkpoint, progress=False, tensorboard=False)
    env = make_train_env(trainer.cfg, num_envs=args.episodes)
    result = evaluate(trainer.policy, env, seed=args.seed)
    print(json.dumps({"algo": state["algo"], "env": trainer.cfg.env_id, "env_steps": state["env_steps"],
                      **_rounded(result)}), flush=True)
    if args.gif:
        from diffenvs.render import record_episode

        cfg = trainer.cfg
        cfg.env_kwargs = {**cfg.env_kwargs, "render_mode": "rgb_array"}
        index = args.gif_env
        renv = make_train_env(cfg, num_envs=min(args.episodes, 8) if index is None else index + 1)
        renv.reset(seed=args.seed)
        path = record_episode(renv, trainer.policy, args.gif, env_index=index, max_steps=args.gif_steps,
                              every=args.gif_every, size=args.gif_size)
        print(f"animation: {path}", flush=True)
    return result


def list_presets(args) -> None:
    check_env_id(args.env)
    algos = [args.algo] if args.algo else sorted(ALGORITHMS)
    for algo in algos:
        names = PRESET_NAMES if algo == "abpt" else ("default", "paper")
        for name in (*names, *env_preset_names(args.env)):
            try:
                settings = preset(algo, args.env, name)
            except ValueError:  # e.g. no paper presets for this env
                continue
            print(f"{algo} {name} {args.env}: {settings}")


#: Subcommands whose module parses its own arguments (its ``main(argv)``), imported on use.
_OWN_PARSERS = {"sweep": ".sweep", "figures": ".figures", "verdicts": ".verdicts"}


def main(argv: list[str] | None = None):
    """Entry point of ``diffenvs-train`` / ``python -m trainers`` (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in _OWN_PARSERS:
        return importlib.import_module(_OWN_PARSERS[argv[0]], __package__).main(argv[1:])
    parser = argparse.ArgumentParser(prog="diffenvs-train", description="Train and evaluate policies on diffenvs "
                                     "envs. Each subcommand has its own --help.", formatter_class=_Formatter,
                                     epilog="example:\n  " + _ABOUT["shac"][1])
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for algo in ALGORITHMS:
        _train_parser(sub, algo)
    ev = _sub(sub, "eval")
    ev.add_argument("checkpoint", help="a checkpoint.pt written by a training run")
    ev.add_argument("--episodes", type=_positive_int, default=32, help="evaluation episodes (one per env)")
    ev.add_argument("--seed", type=int, default=12345, help="evaluation seed")
    ev.add_argument("--gif", default=None, help="save an animation of evaluation episodes here (.gif or .mp4)")
    ev.add_argument("--gif-env", type=int, default=None, metavar="INDEX",
                    help="film env INDEX alone (its own frame) instead of up to 8 envs together")
    ev.add_argument("--gif-steps", type=_positive_int, default=None, metavar="N",
                    help="film N env steps (default: one episode length)")
    ev.add_argument("--gif-every", type=_positive_int, default=2, metavar="K", help="keep every K-th frame")
    ev.add_argument("--gif-size", type=_size, default=None, metavar="WxH",
                    help="scale the animation's pictures to W x H pixels, e.g. 320x240 (default: the renderer's)")
    ex = _sub(sub, "export")
    ex.add_argument("checkpoint", help="a checkpoint.pt written by a training run")
    ex.add_argument("--out", required=True, help="the file to write (.pt2; a torch.export program obs -> action, "
                    "normalisation and any anchor included)")
    pr = _sub(sub, "presets")
    pr.add_argument("algo", nargs="?", choices=sorted(ALGORITHMS), help="one algorithm (default: all)")
    pr.add_argument("--env", default="DiffQuad-Hover-v0", help="registered env id")
    for name in _OWN_PARSERS:  # parsed by their own modules (top of main); listed for --help
        _sub(sub, name)
    args = parser.parse_args(argv)
    if args.command == "eval":
        return evaluate_checkpoint(args)
    if args.command == "presets":
        return list_presets(args)
    if args.command == "export":
        from .export import export_policy

        meta = export_policy(args.checkpoint, args.out)
        print(f"exported {meta['algo']} policy of {meta['env_id']} ({meta['env_steps']} env steps) to {args.out}",
              flush=True)
        return meta
    return train(args)


def console() -> int:
    """Console entry point: runs :func:`main`; returns 0, or prints a user mistake (an
    unknown env id, a bad setting, a missing or invalid file) as one line and returns 2
    (set ``DIFFENVS_DEBUG=1`` for the traceback). Other errors raise."""
    from gymnasium.error import Error as GymError

    from .core.checkpoint import CheckpointError

    try:
        main()
    except (ValueError, TypeError, OSError, CheckpointError, GymError) as exc:
        if os.environ.get("DIFFENVS_DEBUG"):
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"diffenvs-train: error: {message}", file=sys.stderr)
        return 2
    return 0


def _rounded(result: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in result.items() if isinstance(v, float)}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console())
