"""Sphinx configuration of the diffenvs documentation.

Build (warnings are errors)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys

# The repository root, so that ``import diffenvs`` works without installing it.
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)

import diffenvs  # noqa: E402

project = "diffenvs"
author = "diffenvs contributors"
copyright = "diffenvs contributors"
release = diffenvs.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    # MathJax bundled with the built docs (no CDN): math renders without network access.
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# ``_*.md`` files are fragments pulled into pages with ``{include}``; ``examples/`` holds
# the runnable scripts shown with ``{literalinclude}``.
exclude_patterns = ["_build", "**/_*.md", "examples", "Thumbs.db", ".DS_Store"]

# -- MyST -------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc / napoleon -----------------------------------------------------------
# stable-baselines3 and TorchRL are optional dependencies (extra ``sb3``; ``torchrl``); the
# docs build without them.
autodoc_mock_imports = ["stable_baselines3", "torchrl", "tensordict"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"show-inheritance": True}
# Inherited docstrings (from gymnasium.vector.VectorEnv) are written for Gymnasium's own
# docs; do not copy them onto our overrides.
autodoc_inherit_docstrings = False

napoleon_google_docstring = True
napoleon_numpy_docstring = False
# Dataclass fields listed under "Attributes:" become :ivar: fields of the class, so they
# are not registered a second time next to the dataclass attributes autodoc finds.
napoleon_use_ivar = True
# "Class attributes:" (Robot, Task and their subclasses) renders like "Args:".
napoleon_custom_sections = [("Options", "params_style"), ("Class attributes", "params_style")]

# -- HTML -------------------------------------------------------------------------
html_theme = "furo"
html_title = f"diffenvs {release}"
html_static_path = []


# -- docstring fix-ups ----------------------------------------------------------------
# reST needs an escaped space between an inline literal and a letter that follows it
# (``gym.Env``s is a docutils error; ``gym.Env``\ s renders as intended). Runs before
# napoleon (priority < 500) on every autodoc docstring.
import re  # noqa: E402

_INLINE_LITERAL = re.compile(r"``.+?``")


def _escape_literal_suffix(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        out, pos = [], 0
        for m in _INLINE_LITERAL.finditer(line):  # literals pair up left to right
            out.append(line[pos:m.end()])
            pos = m.end()
            if pos < len(line) and line[pos].isalnum():
                out.append("\\ ")
        out.append(line[pos:])
        lines[i] = "".join(out)


def _write_env_table(app) -> None:
    """docs/environments/_env_table.md: the table of registered ids, made from the registry
    (the robots' ENVS tables), so that it always lists what `import diffenvs` registers."""
    import math
    from pathlib import Path

    import gymnasium as gym

    import diffenvs

    here = Path(app.srcdir) / "environments"
    rows = ["| id | robot | task (label) | obs | action dim | reward | episode (steps) |",
            "|---|---|---|---|---|---|---|"]
    for env_id, spec in diffenvs.env_specs().items():
        env = gym.make_vec(env_id, num_envs=1)
        space = env.single_observation_space
        obs = (", ".join(f"{k}: {math.prod(v.shape)}" for k, v in space.spaces.items())
               if isinstance(space, gym.spaces.Dict) else str(math.prod(space.shape)))
        terms = env.reward_terms
        reward = "fully differentiable" if all(t.differentiable for t in terms) else "partially differentiable"
        pages = (spec.task_name, spec.task_name.split("_")[0], spec.robot)
        page = next((p for p in pages if (here / f"{p}.md").exists()), None)
        name = f"[`{env_id}`]({page}.md)" if page else f"`{env_id}`"
        rows.append(f"| {name} | `{spec.robot}` | `\"{spec.task_name}\"` ({spec.label}) | {obs} | {env.action_dim} | "
                    f"{reward} | {spec.max_episode_steps} |")
        env.close()
    text = "\n".join(rows) + "\n"
    target = here / "_env_table.md"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def setup(app):
    app.connect("autodoc-process-docstring", _escape_literal_suffix, priority=400)
    app.connect("builder-inited", _write_env_table)
