"""A TorchRL view of a batched diffenvs environment (any robot).

The native vector env works with TorchRL as it is::

    from torchrl.envs import GymWrapper
    env = GymWrapper(gym.make_vec("DiffQuad-Hover-v0", num_envs=64))   # SAME_STEP autoreset

(the env has Gymnasium's ``autoreset_mode`` attribute and a flat info dict: the reward
terms are ``info["reward/<name>"]``). TorchRL then infers the info specs with a dummy
rollout. :func:`make_torchrl_env` is a convenience on top: it runs the env WITHOUT
autoreset (TorchRL's preferred ``AutoresetMode.DISABLED``: TorchRL resets finished envs
itself through ``reset(options={"reset_mask": ...})``, so ``("next", "observation")`` is
always the true last observation) and registers :class:`DiffInfoReader`, which copies the
step metrics, the failure flags and every reward term into the tensordict with specs
known up front (no dummy rollout).

Example::

    from diffenvs.wrappers.torchrl import make_torchrl_env

    env = make_torchrl_env("DiffQuad-Hover-v0", num_envs=64, seed=0)
    data = env.rollout(256, policy, break_when_any_done=False)   # (64, 256) tensordict
    data["next", "reward/position"]                               # one reward term

That view goes through Gymnasium's numpy interface. :class:`DiffTorchRLEnv` is the
torch-native adapter: a :class:`torchrl.envs.EnvBase` on the batched env's tensors, on the
env's device, without numpy round trips (optionally keeping the autograd graph of the
steps), with the same info entries::

    from diffenvs.wrappers.torchrl import DiffTorchRLEnv

    env = DiffTorchRLEnv("DiffQuad-Hover-v0", num_envs=64, seed=0, device="cuda")
    data = env.rollout(256, policy, break_when_any_done=False)

``import diffenvs`` does not import this module (it imports TorchRL).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

try:
    from tensordict import TensorDict, TensorDictBase
    from torchrl.data import Bounded, Categorical, Composite, Unbounded
    from torchrl.envs import EnvBase, GymWrapper
    from torchrl.envs.gym_like import BaseInfoDictReader
except ImportError as exc:  # pragma: no cover - exercised only without TorchRL installed
    raise ImportError("diffenvs.wrappers.torchrl needs TorchRL; install it with `pip install torchrl`") from exc

from ..contract import check_vector_env

__all__ = ["DiffInfoReader", "DiffTorchRLEnv", "make_torchrl_env"]

#: Info entries TorchRL must not read as per-step data (Gymnasium autoreset bookkeeping).
_SKIP = ("final_obs", "final_info")


class _DisabledAutoresetView(gym.vector.VectorWrapper):
    """Gives a diffenvs env built with ``autoreset=False`` the ``autoreset_mode``
    attribute TorchRL reads (``DISABLED``)."""

    autoreset_mode = AutoresetMode.DISABLED

    def __init__(self, env: gym.vector.VectorEnv):
        super().__init__(env)
        self.metadata = {**env.metadata, "autoreset_mode": AutoresetMode.DISABLED}


def _info_structure(env) -> dict[Any, torch.Tensor]:
    """One step's per-env info entries, computed by the env's pure transition from its
    current state (the env itself is not advanced)."""
    state = env.get_state()
    actions = torch.zeros(env.num_envs, env.action_dim, dtype=env.dtype, device=env.device)
    returns = torch.zeros(env.num_envs, dtype=env.dtype, device=env.device)
    with torch.no_grad():
        info = env.transition(state, actions, returns)[5]
    return _flatten(info)


def _flatten(info: dict) -> dict[Any, Any]:
    flat = {}
    for key, value in info.items():
        if key.startswith("_") or key in _SKIP:
            continue
        if not isinstance(value, dict):
            flat[key] = value
    return flat


class DiffInfoReader(BaseInfoDictReader):
    """TorchRL info reader for a diffenvs env: metrics, failure flags and reward terms.

    Every per-env info entry of a step is written to the tensordict under its key (the
    reward terms under ``"reward/<name>"``). The specs are known up front (no
    dummy rollout); at reset, where the env reports no info, the entries are zeros.
    """

    def __init__(self, env):
        n = env.num_envs
        spec = Composite(shape=(n,))
        for key, value in _info_structure(env).items():
            value = torch.as_tensor(value)
            leaf = Unbounded(shape=(n, *value.shape[1:]), dtype=value.dtype)
            spec[key] = leaf
        self._info_spec = spec

    @property
    def info_spec(self) -> Composite:
        return self._info_spec

    def __call__(self, info_dict: dict[str, Any], tensordict: TensorDictBase) -> TensorDictBase:
        flat = _flatten(info_dict) if info_dict else {}
        for key in self._info_spec.keys(include_nested=True, leaves_only=True):
            spec = self._info_spec[key]
            value = flat.get(key)
            if value is None:
                tensordict.set(key, spec.zero())
            else:
                tensordict.set(key, torch.as_tensor(np.asarray(value), dtype=spec.dtype))
        return tensordict


def make_torchrl_env(env, num_envs: int | None = None, *, seed: int | None = None,
                     device: torch.device | str | None = None, **kwargs: Any) -> GymWrapper:
    """A :class:`torchrl.envs.GymWrapper` around a batched diffenvs env.

    Args:
        env: a registered id (built with ``gym.make_vec(env, num_envs, autoreset=False,
            **kwargs)``) or a diffenvs vector env built with ``autoreset=False``.
        num_envs: number of envs (with an id).
        seed: seed of the first reset.
        device: TorchRL device of the output tensordicts (default: the env's device).
        **kwargs: env arguments (with an id), e.g. ``dtype``, ``max_episode_steps``,
            ``task_options``.

    Returns:
        a TorchRL env with batch size ``(num_envs,)``; finished envs are reset by TorchRL
        (``rollout(..., break_when_any_done=False)`` or a collector), and every step's
        metrics and reward terms are in the tensordict (see :class:`DiffInfoReader`).
    """
    env = _no_autoreset_env(env, num_envs, "make_torchrl_env", kwargs)
    env.reset(seed=seed)
    reader = DiffInfoReader(env.unwrapped)
    view = env if getattr(env, "autoreset_mode", None) == AutoresetMode.DISABLED else _DisabledAutoresetView(env)
    wrapped = GymWrapper(view, device=torch.device(device) if device is not None else env.unwrapped.device)
    wrapped.set_info_dict_reader(reader)
    return wrapped


def _no_autoreset_env(env, num_envs: int | None, who: str, kwargs: dict[str, Any]):
    """``env`` (an id, built without autoreset, or a diffenvs vector env built that way), checked."""
    if isinstance(env, str):
        if num_envs is None:
            raise TypeError(f"{who}(id, num_envs) needs num_envs")
        if kwargs.pop("autoreset", False):
            raise ValueError(f"{who} runs the env without autoreset (TorchRL resets finished envs itself)")
        env = gym.make_vec(env, num_envs=num_envs, autoreset=False, **kwargs)
    else:
        if kwargs:
            raise TypeError(f"env arguments {sorted(kwargs)} can only be given with an env id")
        if num_envs is not None and num_envs != env.num_envs:
            raise ValueError(f"num_envs={num_envs} but the env has {env.num_envs}")
    check_vector_env(env, who=who)
    if getattr(env.unwrapped, "autoreset", True):
        raise ValueError(f"{who} needs an env built with autoreset=False: TorchRL resets finished envs "
                         f"itself (AutoresetMode.DISABLED); pass the env id instead to have it built that way")
    return env


class DiffTorchRLEnv(EnvBase):
    """A torch-native TorchRL env on a batched diffenvs env (batch size ``(num_envs,)``).

    Observations are the env's tensors on its device: a ``Box`` observation under
    ``"observation"``, each entry of a ``Dict`` observation under its own key; the step's
    metrics, failure flags and reward terms (``"reward/<name>"``) as in
    :class:`DiffInfoReader`; ``"reward"``, ``"done"``, ``"terminated"`` and
    ``"truncated"`` with a trailing dimension of 1, as TorchRL expects. Finished envs are
    reset by TorchRL (``_reset`` masks), never by the env.

    Args:
        env: a registered id (built with ``gym.make_vec(env, num_envs, autoreset=False,
            **kwargs)``) or a diffenvs vector env (or wrapper) built with ``autoreset=False``.
        num_envs: number of envs (with an id).
        seed: seed of the first reset (also :meth:`set_seed`).
        differentiable: keep the autograd graph through the steps (rewards and
            observations differentiable in the actions, as ``step_differentiable``);
            default ``False``: steps run under ``torch.no_grad()``.
        **kwargs: env arguments (with an id), e.g. ``dtype``, ``max_episode_steps``.
    """

    def __init__(self, env, num_envs: int | None = None, *, seed: int | None = None, differentiable: bool = False,
                 **kwargs: Any):
        env = _no_autoreset_env(env, num_envs, "DiffTorchRLEnv", kwargs)
        base = env.unwrapped
        n = base.num_envs
        super().__init__(device=base.device, batch_size=torch.Size([n]))
        self._env, self._differentiable, self._seed_value = env, differentiable, seed
        space = env.single_observation_space
        self._keys = list(space.spaces) if isinstance(space, gym.spaces.Dict) else None
        shapes = {k: space[k].shape for k in self._keys} if self._keys else {"observation": space.shape}
        f = dict(dtype=base.dtype, device=base.device)
        obs_spec = Composite({k: Unbounded(shape=(n, *shape), **f) for k, shape in shapes.items()}, shape=(n,),
                             device=base.device)
        env.reset(seed=seed)
        self._info = {k: torch.as_tensor(v) for k, v in _info_structure(base).items()}
        for key, value in self._info.items():
            obs_spec[key] = Unbounded(shape=(n, *value.shape[1:]), dtype=value.dtype, device=base.device)
        self.observation_spec = obs_spec
        self.action_spec = Bounded(-1.0, 1.0, shape=(n, base.single_action_space.shape[0]), **f)
        self.reward_spec = Unbounded(shape=(n, 1), **f)
        flag = dict(shape=(n, 1), dtype=torch.bool, device=base.device)
        self.done_spec = Composite(done=Categorical(2, **flag), terminated=Categorical(2, **flag),
                                   truncated=Categorical(2, **flag), shape=(n,), device=base.device)
        self._started = False

    @property
    def diff_env(self):
        """The wrapped diffenvs env."""
        return self._env

    def _observation(self, obs) -> dict[str, torch.Tensor]:
        return dict(obs) if self._keys else {"observation": obs}

    def _out(self, obs, info: dict | None, flags: tuple[torch.Tensor, torch.Tensor] | None) -> TensorDictBase:
        n = self.batch_size[0]
        out = self._observation(obs)
        flat = _flatten(info) if info else {}
        for key, value in self._info.items():
            v = flat.get(key)
            out[key] = torch.zeros((n, *value.shape[1:]), dtype=value.dtype, device=self.device) if v is None \
                else torch.as_tensor(v, device=self.device)
        term, trunc = flags if flags is not None else (torch.zeros(n, dtype=torch.bool, device=self.device),) * 2
        out.update(terminated=term.unsqueeze(-1), truncated=trunc.unsqueeze(-1), done=(term | trunc).unsqueeze(-1))
        return TensorDict(out, batch_size=self.batch_size, device=self.device)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDictBase:
        mask = tensordict.get("_reset", None) if tensordict is not None else None
        if mask is None or not self._started:
            self._env.reset(seed=self._seed_value)
            self._seed_value, self._started = None, True
        else:
            self._env.reset(options={"reset_mask": mask.reshape(-1)})
        return self._out(self._env.obs, None, None)

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        action = tensordict.get("action")
        with torch.set_grad_enabled(self._differentiable and torch.is_grad_enabled()):
            obs, reward, terminated, truncated, info = self._env.step_differentiable(action)
        out = self._out(obs, info, (terminated, truncated))
        out.set("reward", reward.unsqueeze(-1))
        return out

    def _set_seed(self, seed: int | None) -> None:
        self._seed_value, self._started = seed, False
