"""The README works as written: its shell and Python blocks run in order, in a fresh shell
after the set-up command (``source .venv/bin/activate``), in a scratch folder that sees the
repository's scripts, examples and benchmarks. The command-line examples of the trainers'
pages (docs/trainers/) run the same way.

Only budgets change: a training command gets a tiny budget appended (later flags win), a
sweep is listed (``--dry-run``) instead of run for hours, the benchmark and the examples
run in their ``--quick`` / ``--tiny`` modes. Commands that are this test suite or the docs
build (run by ``test_docs``) are named in :data:`NOT_RUN` with the reason.
"""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Commands the test does not run, with why.
NOT_RUN = {
    "bash scripts/demo.sh": "the set-up (this suite runs in it) and the demo, run as examples/train_abpt.py --tiny",
    "bash scripts/test.sh": "this test suite itself",
    "sphinx-build -q -b html docs docs/_build/html": "the docs build, run by tests/test_docs.py",
}
#: What a training command gets appended: a few iterations of a few envs, no extras.
TINY_TRAIN = ("--steps 64 --num-envs 4 --eval-every 0 --no-progress --no-tensorboard --set eval_envs=2 "
              "--set \"env_kwargs={'max_episode_steps': 16}\"")
TINY_ALGO = {"ppo": " --set n_steps=16 --set batch_size=32 --set n_epochs=1", "abpt": " --set horizon=8",
             "shac": " --set horizon=8 --set critic_updates=1", "bptt": " --set horizon=8"}


def blocks(text: str) -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block, in order."""
    return [(m.group(1).strip(), m.group(2)) for m in re.finditer(r"^```([^\n]*)\n(.*?)^```", text, re.S | re.M)]


def commands(code: str) -> list[str]:
    """The commands of a shell block (comments and blank lines dropped)."""
    out = []
    for line in code.splitlines():
        line = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if line:
            out.append(line)
    return out


def tiny(command: str) -> str:
    """The command with a tiny budget (see the module docstring)."""
    words = shlex.split(command)
    if words[:1] == ["diffenvs-train"] and len(words) > 1:
        if words[1] in TINY_ALGO:
            return f"{command} {TINY_TRAIN}{TINY_ALGO[words[1]]}"
        if words[1] == "sweep":
            return f"{command} --dry-run"
        if words[1] == "eval":
            return f"{command} --episodes 2 --gif-steps 8"
    if words[:1] == ["python"] and len(words) > 1 and words[1].startswith("examples/"):
        return f"{command} --tiny"
    if words[:2] == ["python", "benchmarks/bench_env.py"]:
        return f"{command} --quick"
    return command


def test_readme_blocks_pair_with_the_runner():
    """Every NOT_RUN command is in the README (no stale exemptions); every shell block runs."""
    text = README.read_text()
    shell = [c for lang, code in blocks(text) if lang == "bash" for c in commands(code)]
    assert set(NOT_RUN) <= set(shell)
    assert "source .venv/bin/activate" in shell
    assert tiny("diffenvs-train ppo --env X").endswith("n_epochs=1")


@pytest.fixture
def scratch(tmp_path):
    """A folder standing for the clone: the repository's scripts, examples, benchmarks and
    ``.venv`` (this interpreter's environment) are linked in; everything written stays there."""
    for name in ("scripts", "examples", "benchmarks"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / ".venv").symlink_to(pathlib.Path(sys.prefix))
    return tmp_path


def shell_env() -> dict[str, str]:
    if not (pathlib.Path(sys.prefix) / "bin" / "activate").exists():
        pytest.skip("not running inside a virtual environment with bin/activate (run scripts/test.sh)")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    return env


def run_shell(lines: list[str], cwd, env) -> subprocess.CompletedProcess:
    """The commands, tiny, in one bash after activating the environment."""
    script = ["set -e", "source .venv/bin/activate"]
    script += [tiny(c) for c in lines if c not in NOT_RUN and c != "source .venv/bin/activate"]
    return subprocess.run(["bash", "-c", "\n".join(script)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def test_readme_runs_in_order(scratch):
    env = shell_env()
    ran = []
    for lang, code in blocks(README.read_text()):
        if lang == "bash":
            source = code
            proc = run_shell(commands(code), scratch, env)
        elif lang == "python":
            source = code
            proc = subprocess.run([f"{scratch}/.venv/bin/python", "-c", code], cwd=scratch, env=env,
                                  capture_output=True, text=True, timeout=900)
        else:
            continue
        assert proc.returncode == 0, f"README block failed:\n{source}\n--- output ---\n{proc.stdout[-3000:]}" \
                                     f"{proc.stderr[-3000:]}"
        ran.append(lang)
    assert ran.count("python") >= 2 and ran.count("bash") >= 4
    assert (scratch / "hover_policy.pt2").exists() and (scratch / "flight.gif").exists()
    assert (scratch / "reach.pt").exists() and (scratch / "my_figures").is_dir()


#: The trainers' pages in the order their commands run (the residual page's anchor is the
#: BPTT page's Hover run; the overview page resumes the ABPT run).
TRAINER_PAGES = ("bptt", "shac", "abpt", "ppo", "residual", "index")


def test_trainer_pages_commands_run(tmp_path, monkeypatch):
    """Every ``diffenvs-train`` / ``python -m trainers`` line of the trainers' pages runs
    (tiny, in this process: the shell and the installed command are the README test's);
    lines that need a GPU are skipped without one."""
    import torch

    from trainers.cli import main

    lines = []
    for page in TRAINER_PAGES:
        for lang, code in blocks((ROOT / "docs" / "trainers" / f"{page}.md").read_text()):
            if lang == "bash":
                lines += [c for c in commands(code) if c.startswith(("diffenvs-train", "python -m trainers"))]
    if not torch.cuda.is_available():
        lines = [c for c in lines if "--device cuda" not in c]
    assert len(lines) >= 15
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for line in lines:
        words = shlex.split(tiny(line))
        argv = words[1:] if words[0] == "diffenvs-train" else words[3:]
        try:
            main(argv)
        except SystemExit as stop:  # e.g. sweep --dry-run ends with exit status 0
            assert stop.code in (0, None), f"{line}: exit status {stop.code}"
    assert (tmp_path / "runs" / "bptt-DiffQuad-Hover-v0-s0" / "checkpoint.pt").exists()
    assert (tmp_path / "hover_policy.pt2").exists() and (tmp_path / "flight.gif").exists()
