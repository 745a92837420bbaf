"""Animation files: :func:`save_animation` writes frames, :func:`record_episode` runs a policy and saves it."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..fileio import atomic_path


def save_animation(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float = 25) -> str:
    """Write ``(H, W, 3)`` uint8 frames to ``path`` (``.gif``, or ``.mp4`` with ``imageio[ffmpeg]``).

    GIFs loop forever. The file is written to a temporary file in the same folder and
    then moved into place, so a partly written animation never appears at ``path``.
    Returns ``path`` as a string.
    """
    path = os.fspath(path)
    ext = Path(path).suffix.lower()
    if ext not in (".gif", ".mp4"):
        raise ValueError(f"unsupported animation format {ext or '(no extension)'!r} for {path!r}; use .gif or .mp4")
    if len(frames) == 0:
        raise ValueError("no frames to save")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    frames = [np.asarray(f) for f in frames]
    shape = frames[0].shape
    for f in frames:
        if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3 or f.shape != shape:
            raise ValueError(f"frames must all be (H, W, 3) uint8 arrays of one size; got {f.shape} {f.dtype} "
                             f"after {shape}")
    if ext == ".mp4":
        try:
            import imageio.v2 as imageio
            import imageio_ffmpeg  # noqa: F401
        except ImportError as err:
            raise ImportError("writing .mp4 needs imageio with ffmpeg: pip install 'imageio[ffmpeg]' "
                              "(or save a .gif instead)") from err
    with atomic_path(path, suffix=ext) as tmp:
        if ext == ".gif":
            images = [Image.fromarray(f) for f in frames]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                           duration=max(20, round(1000.0 / fps)))
        else:
            with imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=7,
                                    macro_block_size=1) as writer:
                for f in frames:
                    writer.append_data(f)
    return path


def _vector_env(env):
    """The batched env behind ``env`` (a vector env, a single env or a Gymnasium wrapper of either)."""
    base = getattr(env, "unwrapped", env)
    base = getattr(base, "vec", base)  # the single env keeps its batched env in .vec
    if not (hasattr(base, "render_overview") and hasattr(base, "step_differentiable")):
        raise TypeError(f"record_episode needs a diffenvs env (DiffVectorEnv or DiffEnv), got {type(env).__name__}")
    return base


def record_episode(env, policy: Callable[[torch.Tensor], torch.Tensor], path: str | os.PathLike,
                   max_steps: int | None = None, fps: float = 25, every: int = 2, env_index: int | None = None,
                   size: tuple[int, int] | None = None) -> str:
    """Run ``policy`` in ``env`` and save the overview pictures (up to 16 envs) to ``path``,
    or the pictures of env ``env_index`` alone (its own frame, e.g. with its own obstacles
    and camera image, as ``env.render()`` draws it).

    Args:
        env: a :class:`~diffenvs.vector_env.DiffVectorEnv` (or :class:`~diffenvs.single_env.DiffEnv`, or a
            Gymnasium wrapper of one) built with ``render_mode="rgb_array"``. A diffenvs
            wrapper with the batched protocol (``obs``, ``step_differentiable``; e.g.
            :class:`~diffenvs.wrappers.residual.ResidualEnv`) is stepped through, so that the
            policy sees and drives it as in training. It is reset
            first if it has never been reset, else it continues from its current state.
        policy: maps the observation ``env.obs`` (batched tensors) to ``(N, action_dim)``
            actions, e.g. the robot's classical controller.
        path: ``.gif`` or ``.mp4`` file (see :func:`save_animation`).
        max_steps: number of env steps; default the env's episode length (or 256).
        fps: frames per second of the animation.
        every: keep every ``every``-th frame (the first frame is always kept).
        env_index: ``None``: the overview; an int: that env's frame.
        size: ``(width, height)`` to scale the pictures to (smaller files), or ``None``
            to keep the renderer's size.

    Returns:
        the path written.
    """
    base = _vector_env(env)
    if base.render_mode != "rgb_array":
        raise ValueError("record_episode needs an env built with render_mode='rgb_array', e.g. "
                         "DiffVectorEnv(..., render_mode='rgb_array') or "
                         "gym.make_vec(env_id, num_envs=..., render_mode='rgb_array')")
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive int, got {every!r}")
    if max_steps is None:
        max_steps = base.max_episode_steps or 256
    # Act and step through the wrappers that change observations or actions (e.g. a residual
    # policy's ResidualEnv adds the anchor); draw from the env underneath.
    stepper = env if hasattr(type(env), "step_differentiable") and hasattr(type(env), "obs") else base
    if base._state is None:
        stepper.reset()
    if env_index is None:
        picture = base.render_overview
    else:
        if not -base.num_envs <= env_index < base.num_envs:
            raise IndexError(f"env_index {env_index} out of range for {base.num_envs} envs")

        def picture():
            return base._get_renderer().draw_env(base, env_index)

    frames = [picture()]
    with torch.no_grad():
        for i in range(int(max_steps)):
            actions = torch.as_tensor(policy(stepper.obs), dtype=base.dtype, device=base.device)
            _, _, terminated, truncated, _ = stepper.step_differentiable(actions)
            finished = not base.autoreset and bool((terminated | truncated).all())
            if (i + 1) % every == 0 or finished:
                frames.append(picture())
            if finished:
                break
    if size is not None:
        width, height = (int(v) for v in size)
        if width < 1 or height < 1:
            raise ValueError(f"size must be (width, height) in pixels, got {size!r}")
        frames = [np.asarray(Image.fromarray(f).resize((width, height), Image.LANCZOS)) for f in frames]
    return save_animation(frames, path, fps=fps)
