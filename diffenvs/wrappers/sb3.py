"""A stable-baselines3 ``VecEnv`` view of a batched diffenvs environment (any robot).

Stable-baselines3 cannot consume a :class:`gymnasium.vector.VectorEnv`; it has its own
:class:`~stable_baselines3.common.vec_env.VecEnv` interface (numpy arrays, a list of
per-env info dicts, ``terminal_observation`` for finished envs). :class:`SB3VecEnv`
translates any vector env that meets the diffenvs contract
(:func:`diffenvs.contract.check_vector_env`) to that interface without copying the
simulation: all ``num_envs`` envs are still stepped as one torch batch.

Example::

    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize
    from diffenvs.wrappers import make_sb3_env

    env = VecNormalize(VecMonitor(make_sb3_env("DiffQuad-Hover-v0", num_envs=64, seed=0)))
    PPO("MlpPolicy", env).learn(100_000)

This module imports stable-baselines3; ``import diffenvs`` does not import this module
(``diffenvs.wrappers.SB3VecEnv`` is resolved lazily).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

try:
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn
except ImportError as exc:  # pragma: no cover - exercised only without SB3 installed
    raise ImportError(
        "diffenvs.wrappers.sb3 needs stable-baselines3; install it with `pip install stable-baselines3`"
    ) from exc

from ..contract import check_vector_env

__all__ = ["SB3VecEnv", "make_sb3_env"]

#: ``final_info`` entries that become the SB3 ``episode`` dict instead of being copied.
_EPISODE_KEYS = ("episode_return", "episode_length")
#: Per-step failure flags copied (as Python bools) into the info of finished envs.
_STEP_FLAGS = ("diverged", "out_of_bounds")


class SB3VecEnv(VecEnv):
    """Stable-baselines3 ``VecEnv`` adapter around one batched diffenvs env.

    The wrapped env must autoreset (Gymnasium ``SAME_STEP``, the default): the step that
    ends an episode already returns the first observation of the next one, which is
    exactly SB3's convention. The true last observation of the finished episode is put
    into that env's info as ``terminal_observation``.

    Every :meth:`step_wait` returns ``(obs, rewards, dones, infos)``:

    * ``obs``: ``(num_envs, obs_dim)`` float32, a fresh writable array;
    * ``rewards``: ``(num_envs,)`` float32, a fresh writable array;
    * ``dones``: ``(num_envs,)`` bool, ``terminated | truncated``;
    * ``infos``: a list of ``num_envs`` dicts. Every dict has ``TimeLimit.truncated``
      (as in SB3's ``DummyVecEnv``). The dicts of envs whose episode just ended also have
      ``terminal_observation`` (float32 ``(obs_dim,)``), ``episode`` =
      ``{"r": return, "l": length, "t": seconds since this adapter was created}``, the
      task's success metrics of the last step as Python scalars (e.g. ``success``,
      ``pos_error``, ``mean_pos_error``, ``xy_error``, ``height``, ``gates_passed``,
      ``lap_time``; the set depends on the task) and the failure flags ``diverged`` and
      ``out_of_bounds``.

    The ``episode`` dict lets SB3's logger report ``rollout/ep_rew_mean`` without a
    monitor. Under :class:`~stable_baselines3.common.vec_env.VecMonitor` nothing is
    counted twice: VecMonitor replaces ``info["episode"]`` with its own dict (same return
    and length, its own clock), and SB3 reads one ``episode`` per finished env. Pass
    ``episode_info=False`` to leave the key out entirely. The metrics can be logged by
    ``VecMonitor(env, info_keywords=("success",))``.

    Args:
        env: a vector env that meets the diffenvs contract (e.g.
            ``gymnasium.make_vec("DiffQuad-Hover-v0", num_envs=N)``), or a wrapper of one.
            Stepping, resetting, rendering and closing go through
            ``env`` itself (so its wrappers apply; they must keep ``info["final_obs"]``
            consistent with the observations they return).
        episode_info: add the ``episode`` dict to the infos of finished envs.

    Attributes:
        env: the wrapped (possibly Gymnasium-wrapped) batched env.
        batched_env: ``env.unwrapped``, the :class:`~diffenvs.vector_env.DiffVectorEnv`.
    """

    def __init__(self, env: gym.vector.VectorEnv, *, episode_info: bool = True):
        check_vector_env(getattr(env, "unwrapped", env), who="SB3VecEnv", need_autoreset=True)
        self.env = env
        self.batched_env = env.unwrapped
        self.episode_info = bool(episode_info)
        self._actions: np.ndarray | None = None
        self._t_start = time.time()
        self._closed = False
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        # SB3 computed render_modes from render_mode; keep the env's other metadata (render_fps, ...).
        self.metadata = {**dict(getattr(env, "metadata", {}) or {}), "render_modes": self.metadata["render_modes"]}

    # ----------------------------------------------------------------- reset / step
    def reset(self) -> VecEnvObs:
        """Reset every env and return the float32 ``(num_envs, obs_dim)`` observations.

        Uses the seeds set by :meth:`seed` (SB3 gives env ``i`` the seed ``seed + i``;
        the batched env takes one seed, so the first non-None one is passed to its
        ``reset(seed=...)``, which makes the whole batch reproducible) and the options
        set by :meth:`set_options` (the batched env takes one options dict for all rows,
        e.g. ``{"state": states}``; different non-empty options per env raise
        ``ValueError``). Both are used once and then cleared, as in SB3's ``DummyVecEnv``.
        """
        seed = next((s for s in self._seeds if s is not None), None)
        options = self._batched_options()
        obs, info = self.env.reset(seed=seed, options=options)
        self.reset_infos = _split_info(info, self.num_envs)
        self._reset_seeds()
        self._reset_options()
        self._actions = None
        return _obs_float32(obs)

    def step_async(self, actions: np.ndarray) -> None:
        """Store ``(num_envs, 4)`` actions for the next :meth:`step_wait`."""
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        """Step all envs with the stored actions; returns ``(obs, rewards, dones, infos)``.

        See the class docstring for the content of ``infos``.
        """
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async(actions)")
        actions, self._actions = self._actions, None
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        terminated = np.asarray(terminated, dtype=bool).reshape(self.num_envs)
        truncated = np.asarray(truncated, dtype=bool).reshape(self.num_envs)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{"TimeLimit.truncated": False} for _ in range(self.num_envs)]
        done_idx = np.flatnonzero(dones)
        if done_idx.size:
            self._fill_final_infos(infos, done_idx, terminated, truncated, info)
        return _obs_float32(obs), _as_float32(np.reshape(rewards, self.num_envs)), dones, infos

    def _fill_final_infos(self, infos, done_idx, terminated, truncated, info) -> None:
        if "final_obs" not in info:
            raise RuntimeError("the env ended episodes without info['final_obs']; it must autoreset (SAME_STEP)")
        final_obs = _obs_float32(info["final_obs"])
        final_info = info.get("final_info", {}) or {}
        n = self.num_envs
        metrics = {k: np.asarray(v) for k, v in final_info.items() if k not in _EPISODE_KEYS and _is_batched(v, n)}
        flags = {k: np.asarray(info[k]) for k in _STEP_FLAGS if k in info and _is_batched(info[k], n)}
        returns = final_info.get("episode_return")
        lengths = final_info.get("episode_length")
        elapsed = round(time.time() - self._t_start, 6)
        for i in done_idx.tolist():
            d = infos[i]
            d["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            d["terminal_observation"] = ({k: v[i].copy() for k, v in final_obs.items()} if isinstance(final_obs, dict)
                                         else final_obs[i].copy())
            if self.episode_info and returns is not None and lengths is not None:
                d["episode"] = {"r": float(returns[i]), "l": int(round(float(lengths[i]))), "t": elapsed}
            for k, v in metrics.items():
                d[k] = v[i].item()
            for k, v in flags.items():
                d[k] = bool(v[i])

    def _batched_options(self) -> dict[str, Any] | None:
        given = [o for o in self._options if o]
        if not given:
            return None
        first = given[0]
        for other in given[1:]:
            if other is first:
                continue
            try:
                same = bool(other == first)
            except Exception:  # e.g. dicts of arrays: ambiguous truth value
                same = False
            if not same:
                raise ValueError(
                    "the batched env takes one options dict for all envs; pass the same options for every env "
                    "(set_options(dict)), e.g. {'state': states} or {'reset_mask': mask}"
                )
        return dict(first)

    # ------------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Close the wrapped env (idempotent)."""
        if not self._closed:
            self.env.close()
            self._closed = True

    def get_images(self) -> Sequence[np.ndarray | None]:
        """Frames for SB3's ``render()`` / ``VecVideoRecorder``.

        The env's ``render()`` already follows the vector convention: one ``H x W x 3``
        uint8 frame per env, each showing that env alone; this returns them as a list of
        ``num_envs`` frames, which SB3 tiles into one picture (as for ``DummyVecEnv``). For
        a single picture of up to 16 envs together use the env's ``render_overview()``.
        Without ``render_mode="rgb_array"`` it warns and returns ``[None] * num_envs``
        like ``DummyVecEnv``.
        """
        if self.render_mode != "rgb_array":
            warnings.warn(
                f"The render mode is {self.render_mode}, but get_images() needs render_mode='rgb_array'; "
                f"create the env with render_mode='rgb_array'",
                stacklevel=2,
            )
            return [None for _ in range(self.num_envs)]
        return list(self.env.render())

    # ------------------------------------------------------- attribute delegation
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Attribute ``attr_name`` of the batched env, once per requested index.

        All indices share one batched env, so every element is the same object (e.g.
        ``get_attr("num_envs")`` gives ``[N] * N``). Gymnasium wrappers around the env are
        searched first, then the :class:`~diffenvs.vector_env.DiffVectorEnv`.
        """
        idx = self._indices(indices)
        value = getattr(self._attr_owner(attr_name), attr_name)
        return [value for _ in idx]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set ``attr_name`` on the batched env (once; it is shared by every index).

        The attribute is set on the outermost wrapper layer that has it, or on the
        :class:`~diffenvs.vector_env.DiffVectorEnv` if none has it. ``indices`` is validated but
        cannot select a subset of envs: use the env's own batched API for that.
        """
        if not self._indices(indices):
            return
        owner = self._attr_owner(attr_name, default=self.batched_env)
        setattr(owner, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """Call ``method_name`` of the batched env once; return its result once per index.

        The method is called a single time (it acts on the whole batch), and its return
        value is repeated for each requested index, e.g. ``env_method("get_state")`` gives
        ``[states] * N`` with ``states`` the state dict.
        """
        idx = self._indices(indices)
        if not idx:
            return []
        result = getattr(self._attr_owner(method_name), method_name)(*method_args, **method_kwargs)
        return [result for _ in idx]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """``[False] * len(indices)``: the envs are rows of one batched env, not wrapped ``gym.Env`` instances.

        (In particular no env is wrapped in SB3's ``Monitor``; use ``VecMonitor``.)
        """
        return [False for _ in self._indices(indices)]

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        idx = [int(i) for i in self._get_indices(indices)]
        for i in idx:
            if not -self.num_envs <= i < self.num_envs:
                raise IndexError(f"env index {i} out of range for {self.num_envs} envs")
        return idx

    def _attr_owner(self, name: str, default: Any = None) -> Any:
        layer = self.env
        while layer is not None:
            if hasattr(layer, name):
                return layer
            inner = getattr(layer, "env", None)
            layer = inner if inner is not layer else None
        if default is not None:
            return default
        raise AttributeError(f"{type(self.batched_env).__name__} has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"SB3VecEnv({self.env!r})"


def make_sb3_env(env_id: str, num_envs: int = 100, seed: int | None = None, **kwargs: Any) -> SB3VecEnv:
    """``SB3VecEnv(gymnasium.make_vec(env_id, num_envs=num_envs, **kwargs))``.

    ``kwargs`` go to the env (e.g. ``device="cuda"``, ``max_episode_steps=128``,
    ``task_options={...}``). If ``seed`` is given it is applied, as in SB3's
    ``make_vec_env``, at the next :meth:`~SB3VecEnv.reset` (SB3 algorithms reset before
    learning; an algorithm's own ``seed`` argument overrides it).
    """
    import diffenvs  # noqa: F401  (registers the ids)

    venv = SB3VecEnv(gym.make_vec(env_id, num_envs=num_envs, **kwargs))
    if seed is not None:
        venv.seed(seed)
    return venv


# ------------------------------------------------------------------------ helpers
def _obs_float32(obs):
    """An observation (an array, or a dict of arrays for a ``Dict`` space) as float32 copies."""
    if isinstance(obs, dict):
        return {k: _as_float32(v) for k, v in obs.items()}
    return _as_float32(obs)


def _as_float32(x) -> np.ndarray:
    """A float32 copy of ``x`` (writable, shares no memory with the env's buffers)."""
    return np.array(x, dtype=np.float32, copy=True)


def _is_batched(v: Any, n: int) -> bool:
    return isinstance(v, np.ndarray | np.generic | list | tuple) and np.ndim(v) >= 1 and len(v) == n


def _split_info(info: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """Per-env dicts from a Gymnasium vector info dict (batched entries split, masks honoured)."""
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, value in (info or {}).items():
        if key.startswith("_") or not _is_batched(value, n):
            continue
        mask = info.get(f"_{key}")
        arr = np.asarray(value)
        for i in range(n):
            if mask is None or bool(mask[i]):
                out[i][key] = arr[i].item() if arr.ndim == 1 else arr[i].copy()
    return out
