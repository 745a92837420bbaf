"""PPO: stable-baselines3's PPO on the batched envs, behind the trainers' interface.

The comparison baseline of the ABPT paper (Table 3). The batched env is handed to SB3
through :class:`diffenvs.wrappers.sb3.SB3VecEnv` (one torch batch, no copies of the
simulation) and :class:`~stable_baselines3.common.vec_env.VecNormalize` (observations
only, so returns are logged raw). Everything around SB3's update is shared with the
first-order trainers (:mod:`trainers.core.loop`): the
``progress.csv``/TensorBoard schema of :mod:`trainers.core.logger`, the deterministic
evaluation of :func:`trainers.core.evaluate.evaluate`, ``weights_only`` checkpoints
written atomically, :meth:`PPO.from_checkpoint` and ``learn(resume=True)``.

One iteration is one SB3 rollout (``n_steps * num_envs`` env steps) followed by its
update (``n_epochs`` passes in minibatches of ``batch_size``); one log row is written
after each. ``actor_loss`` is SB3's ``policy_gradient_loss``, ``critic_loss`` its
``value_loss``, ``entropy`` minus its ``entropy_loss``; ``alpha`` and ``grad_norm`` are
left empty (SB3 does not report the gradient norm).

Example::

    from trainers import make_trainer
    trainer = make_trainer("ppo", env_id="DiffQuad-Hover-v0", total_steps=3_000_000)
    trainer.learn()
    trainer.save("ppo_hover.pt")
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

try:
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
    from stable_baselines3.common.vec_env import VecNormalize
except ImportError as exc:  # pragma: no cover - exercised only without SB3 installed
    raise ImportError("trainers.ppo needs stable-baselines3; install it with `pip install stable-baselines3`") from exc

from diffenvs.contract import check_vector_env
from diffenvs.wrappers.flatten import FlattenObsEnv, ImageSlice, obs_layout
from diffenvs.wrappers.sb3 import SB3VecEnv

from .core.checkpoint import restore_run_state, run_state
from .core.config import TrainConfig, config_from_dict
from .core.loop import LoopState, TrainerBase, begin_learning, end_iteration, make_train_env, policy_obs_layout
from .core.networks import ENCODERS, FusionEncoder, ImageEncoder, NetConfig, residual_net

#: ``PPOConfig.activation`` names -> torch modules.
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU,
                                           "leaky_relu": nn.LeakyReLU}


def _default_net_arch() -> dict[str, list[int]]:
    # The first-order actor: a 192-unit feature layer, then heads of [192, 96] (trainers.core.networks).
    return {"pi": [192, 192, 96], "vf": [192, 192, 96]}


@dataclass
class PPOConfig(TrainConfig):
    """PPO settings (defaults: paper Table 3, hovering) in addition to :class:`trainers.core.config.TrainConfig`.

    Attributes:
        learning_rate: Adam learning rate (constant).
        n_steps: steps per env in one rollout (a rollout is ``n_steps * num_envs`` env
            steps, and one iteration).
        batch_size: minibatch size of the update (Table 3's "minibatch size"; at most
            ``n_steps * num_envs``, ideally a divisor of it).
        n_epochs: passes over each rollout per update.
        gamma: discount factor.
        gae_lambda: λ of the generalised advantage estimate (1.0: Monte-Carlo returns
            bootstrapped with the value at the rollout's end and at time-limit truncations).
        clip_range: PPO's probability-ratio clip ε.
        ent_coef: entropy bonus coefficient.
        vf_coef: value-loss coefficient.
        max_grad_norm: clip the gradient norm of each update step.
        weight_decay: Adam weight decay (L2, as ``torch.optim.Adam``; SB3's ``eps=1e-5``
            is kept).
        net_arch: SB3 ``net_arch``: separate policy (``"pi"``) and value (``"vf"``) MLP
            widths (a plain list shares them); the default is the first-order actor's shape.
        activation: hidden-layer activation: ``"relu"``, ``"tanh"``, ``"elu"`` or
            ``"leaky_relu"``.
        normalize_obs: normalise observations with SB3's ``VecNormalize`` running
            statistics (rewards are never normalised, so logged returns are raw).
        log_std_init: initial log standard deviation of the Gaussian policy (state
            independent, as in SB3). Residual runs (``residual`` set) start with the
            standard deviation ×0.1, like the first-order residual actors.
        encoder: the policy's architecture, as the first-order actors'
            (:data:`trainers.core.networks.ENCODERS`): ``"mlp"`` (``net_arch``),
            ``"linear"`` (a single dense layer from the flat observation to the action mean;
            the value function keeps ``net_arch["vf"]``), ``"nature_cnn"`` (the Nature CNN
            on the observation's image, shared by policy and value, then ``net_arch``) or
            ``"fusion"`` (the residual paper's perceptive policy: everything but the image
            through an MLP of widths ``fusion_hidden``, concatenated with the flattened
            image, shared by policy and value, then ``net_arch``, e.g. ``{"pi": [128]}``).
            ``Dict`` observations are flattened (:func:`diffenvs.wrappers.flatten.obs_layout`).
        fusion_hidden: with ``encoder="fusion"``, the widths of the MLP of the non-image
            inputs (the residual paper: [128, 64]).
    """

    learning_rate: float = 3e-4
    n_steps: int = 256
    batch_size: int = 25_600
    n_epochs: int = 5
    gamma: float = 0.99
    gae_lambda: float = 1.0
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    weight_decay: float = 1e-5
    net_arch: dict[str, list[int]] | list[int] = field(default_factory=_default_net_arch)
    activation: str = "relu"
    normalize_obs: bool = True
    log_std_init: float = -0.5
    encoder: str = "mlp"
    fusion_hidden: tuple[int, ...] = (128, 64)


class PPO(TrainerBase):
    """SB3 PPO with the first-order trainers' interface (``learn``, ``evaluate``,
    ``policy``, ``save``, ``from_checkpoint``).

    Args:
        cfg: the run's :class:`PPOConfig`.
        env: an optional batched env that meets the diffenvs contract (e.g. a
            :class:`diffenvs.vector_env.DiffVectorEnv` or :class:`~diffenvs.wrappers.residual.ResidualEnv`); by default
            :func:`~trainers.core.loop.make_train_env` builds it from ``cfg``.

    Attributes:
        env: the batched env being trained on.
        venv: the SB3 view of it, ``VecNormalize(SB3VecEnv(env))``.
        model: the ``stable_baselines3.PPO`` instance.
        log_dir: where ``progress.csv``, TensorBoard events and ``checkpoint.pt`` go.
    """

    algo: ClassVar[str] = "ppo"
    Config: ClassVar[type[PPOConfig]] = PPOConfig

    def __init__(self, cfg: PPOConfig, env=None):
        self.cfg = cfg
        if cfg.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {cfg.activation!r}; choose one of {sorted(ACTIVATIONS)}")
        if cfg.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {cfg.encoder!r}; choose one of {list(ENCODERS)}")
        torch.manual_seed(cfg.seed)
        self.env = env if env is not None else make_train_env(cfg)
        check_vector_env(self.env, who="PPO", need_autoreset=True)
        space = self.env.single_observation_space
        self.obs_dim, self.flatten, self.image = obs_layout(space)
        if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
            self.env = FlattenObsEnv(self.env)  # SB3 sees one flat vector
        self.device = self.env.device
        self.act_dim = self.env.single_action_space.shape[0]
        self.venv = VecNormalize(SB3VecEnv(self.env), norm_obs=cfg.normalize_obs, norm_reward=False,
                                 gamma=cfg.gamma)
        policy_kwargs = _policy_kwargs(cfg, self.obs_dim, self.image)
        # SB3 seeds python, numpy and torch and the VecEnv (applied at its next reset).
        self.model = SB3PPO("MlpPolicy", self.venv, learning_rate=cfg.learning_rate, n_steps=cfg.n_steps,
                            batch_size=cfg.batch_size, n_epochs=cfg.n_epochs, gamma=cfg.gamma,
                            gae_lambda=cfg.gae_lambda, clip_range=cfg.clip_range, ent_coef=cfg.ent_coef,
                            vf_coef=cfg.vf_coef, max_grad_norm=cfg.max_grad_norm, policy_kwargs=policy_kwargs,
                            seed=cfg.seed, device=cfg.device, verbose=0)
        # Start the first episodes now (env.reset(seed=cfg.seed) through the adapter), as the
        # first-order trainers do: policy(), save() and learn() then all see a reset env, and
        # SB3's learn() is always called with reset_num_timesteps=False (see learn()).
        self.model._last_obs = self.venv.reset()
        self.model._last_episode_starts = np.ones(self.venv.num_envs, dtype=bool)
        self.model._last_original_obs = self.venv.get_original_obs()
        self._init_loop()

    # ------------------------------------------------------------------ helpers
    @property
    def env_steps(self) -> int:
        """Env steps trained on so far (SB3's ``num_timesteps``)."""
        return int(self.model.num_timesteps)

    @property
    def steps_per_iteration(self) -> int:
        return self.cfg.n_steps * self.venv.num_envs

    def modules(self) -> dict[str, nn.Module]:
        return {"policy": self.model.policy}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.model.policy.optimizer}

    def normalize(self, obs: Tensor) -> Tensor:
        """Observations as SB3's policy sees them: float32, normalised by ``VecNormalize``'s statistics."""
        x = obs.detach().to(device=self.model.device, dtype=torch.float32)
        if not self.cfg.normalize_obs:
            return x
        v = self.venv
        return _normalize(x, v.obs_rms.mean, v.obs_rms.var, v.epsilon, v.clip_obs)

    @torch.no_grad()
    def policy(self, obs: Tensor) -> Tensor:
        """The deterministic policy: the Gaussian's mean at the normalised ``obs``, clipped to
        the action space as SB3 does (evaluation, deployment); same device and dtype as ``obs``
        (a ``Dict`` observation is flattened first)."""
        flat = self.flatten(obs) if isinstance(obs, dict) else obs
        return _act(self.model.policy, self.normalize(flat), flat, self.env.dtype)

    @classmethod
    def load_policy(cls, state: dict[str, Any], env=None, source: str = "checkpoint"):
        """The frozen deterministic policy stored in a PPO checkpoint's ``state`` (see
        :func:`trainers.load_policy`), without building a trainer or an env."""
        cfg = config_from_dict(PPOConfig, state["config"])
        rms = state["obs_rms"]
        obs_dim = rms["mean"].shape[0]
        weights = state["modules"]["policy"]
        act_dim = weights["log_std"].shape[0]
        flatten, image = policy_obs_layout(env, obs_dim, source)
        obs_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        act_space = gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)
        net = ActorCriticPolicy(obs_space, act_space, lambda _: 0.0, **_policy_kwargs(cfg, obs_dim, image))
        net.load_state_dict(weights)
        net.requires_grad_(False)
        net.set_training_mode(False)
        # The trainer's VecNormalize uses SB3's default clip and epsilon.
        params = inspect.signature(VecNormalize.__init__).parameters
        clip_obs, epsilon = params["clip_obs"].default, params["epsilon"].default
        mean, var = rms["mean"].double().numpy(), rms["var"].double().numpy()

        def policy(obs: Tensor) -> Tensor:
            obs = flatten(obs) if isinstance(obs, dict) else obs
            x = obs.detach().to(dtype=torch.float32, device=net.device)
            if cfg.normalize_obs:
                x = _normalize(x, mean, var, epsilon, clip_obs)
            return _act(net, x, obs, obs.dtype if obs.is_floating_point() else torch.float32)

        return policy

    # --------------------------------------------------------------------- loop
    def learn(self, resume: bool = False) -> dict[str, float]:
        """Train until ``total_steps``; returns the last evaluation.

        ``resume=True`` appends to an existing ``progress.csv`` (after
        :meth:`from_checkpoint`) instead of starting a new one. Training always continues
        from the trainer's state: SB3's ``learn`` runs the remaining
        ``total_steps - env_steps`` steps with ``reset_num_timesteps=False``.
        """
        loop = begin_learning(self, resume)
        try:
            remaining = self.cfg.total_steps - self.env_steps
            if remaining > 0:
                self.model.learn(total_timesteps=remaining, callback=_LoopCallback(self, loop), log_interval=None,
                                 reset_num_timesteps=False, progress_bar=False)
        finally:
            loop.close()
        return loop.last_eval

    # -------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run identically (``weights_only``-safe)."""
        rms = self.venv.obs_rms
        model = self.model
        return {
            **run_state(self),
            "obs_rms": {"mean": torch.as_tensor(np.array(rms.mean, dtype=np.float64)),
                        "var": torch.as_tensor(np.array(rms.var, dtype=np.float64)), "count": float(rms.count)},
            "numpy_rng": _numpy_rng_state(),
            "extra": {
                "n_updates": int(model._n_updates),
                # SB3's next observation (normalised) and episode starts, stored as they are so
                # that a resumed run continues bit for bit.
                "last_obs": torch.as_tensor(np.array(model._last_obs, dtype=np.float32)),
                "last_original_obs": torch.as_tensor(np.array(self.venv.get_original_obs(), dtype=np.float32)),
                "last_episode_starts": torch.as_tensor(np.array(model._last_episode_starts, dtype=bool)),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_run_state(self, state)
        self.iteration, self.wall_time = int(state["iteration"]), float(state["wall_time"])
        self.model.num_timesteps = int(state["env_steps"])
        rms = self.venv.obs_rms
        rms.mean = state["obs_rms"]["mean"].double().numpy().copy()
        rms.var = state["obs_rms"]["var"].double().numpy().copy()
        rms.count = float(state["obs_rms"]["count"])
        _set_numpy_rng_state(state["numpy_rng"])
        extra = state.get("extra", {})
        self.model._n_updates = int(extra.get("n_updates", 0))
        n = self.venv.num_envs
        if "last_obs" in extra and tuple(extra["last_obs"].shape) == (n, self.obs_dim):
            last_obs = extra["last_obs"].numpy().copy()
            original = extra["last_original_obs"].numpy().copy()
        else:  # recompute from the restored env
            original = self.env.obs.detach().to(torch.float32).cpu().numpy().copy()
            last_obs = self.venv.normalize_obs(original)
        self.venv.old_obs = original
        self.model._last_obs = last_obs
        self.model._last_original_obs = original
        starts = extra.get("last_episode_starts")
        self.model._last_episode_starts = starts.numpy().astype(bool) if starts is not None else np.ones(n, bool)


class _LoopCallback(BaseCallback):
    """Our loop around SB3's: one log row per rollout + update, evaluation, checkpoints, progress bar.

    SB3 calls ``on_rollout_end`` before the update of that rollout, so the row of an
    iteration is written at the next ``on_rollout_start`` (or at ``on_training_end``),
    when the update's losses are in SB3's logger.
    """

    def __init__(self, trainer: PPO, loop: LoopState):
        super().__init__(verbose=0)
        self.trainer = trainer
        self.loop = loop
        self.pending = False
        self.returns: list[float] = []
        self.lengths: list[float] = []
        self.t0 = time.perf_counter()

    def _on_training_start(self) -> None:
        self.t0 = time.perf_counter()

    def _on_rollout_start(self) -> None:
        if self.pending:
            self._end_iteration()

    def _on_step(self) -> bool:
        infos = self.locals["infos"]
        for i in np.flatnonzero(self.locals["dones"]):
            episode = infos[i].get("episode")
            if episode is not None:
                self.returns.append(float(episode["r"]))
                self.lengths.append(float(episode["l"]))
        return True

    def _on_rollout_end(self) -> None:
        self.pending = True

    def _on_training_end(self) -> None:
        if self.pending:
            self._end_iteration()

    def _end_iteration(self) -> None:
        tr = self.trainer
        tr.wall_time += time.perf_counter() - self.t0
        tr.iteration += 1
        self.pending = False
        values = tr.model.logger.name_to_value
        row: dict[str, Any] = {"iteration": tr.iteration, "env_steps": tr.env_steps, "wall_time": tr.wall_time}
        if self.returns:
            row["episode_return"] = float(np.mean(self.returns))
            row["episode_length"] = float(np.mean(self.lengths))
        self.returns, self.lengths = [], []
        if "train/policy_gradient_loss" in values:
            row["actor_loss"] = float(values["train/policy_gradient_loss"])
            row["critic_loss"] = float(values["train/value_loss"])
            row["entropy"] = -float(values["train/entropy_loss"])
        row["lr"] = float(tr.model.policy.optimizer.param_groups[0]["lr"])
        end_iteration(tr, self.loop, row)
        self.t0 = time.perf_counter()


def _policy_kwargs(cfg: PPOConfig, obs_dim: int, image: ImageSlice | None) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` of a config (residual runs start with the residual paper's ×1/√10 std)."""
    log_std_init = cfg.log_std_init
    if cfg.residual:
        log_std_init += math.log(residual_net(NetConfig()).std_scale)
    net_arch = dict(cfg.net_arch) if isinstance(cfg.net_arch, dict) else list(cfg.net_arch)
    kwargs = dict(activation_fn=ACTIVATIONS[cfg.activation], log_std_init=log_std_init,
                  optimizer_kwargs=dict(eps=1e-5, weight_decay=cfg.weight_decay))
    if cfg.encoder == "linear":
        vf = net_arch["vf"] if isinstance(net_arch, dict) else net_arch
        net_arch = {"pi": [], "vf": list(vf)}
    elif cfg.encoder in ("nature_cnn", "fusion"):
        if image is None:
            raise ValueError(f"encoder={cfg.encoder!r} needs an observation with an image (a Dict entry of 2 or 3 "
                             f"dimensions, e.g. 'depth')")
        extra = {"hidden": tuple(cfg.fusion_hidden)} if cfg.encoder == "fusion" else {}
        kwargs.update(features_extractor_class=_FusionFeatures if cfg.encoder == "fusion" else _ImageFeatures,
                      features_extractor_kwargs={"obs_dim": obs_dim, "offset": image.offset, "shape": image.shape,
                                                 **extra})
    return dict(net_arch=net_arch, **kwargs)


class _ImageFeatures(BaseFeaturesExtractor):
    """SB3 features extractor: the Nature CNN on the flat observation's image, concatenated
    with the rest (:class:`trainers.core.networks.ImageEncoder`)."""

    def __init__(self, observation_space: gym.spaces.Box, obs_dim: int, offset: int, shape: tuple[int, int, int]):
        encoder = ImageEncoder(obs_dim, ImageSlice(offset, tuple(shape)))
        super().__init__(observation_space, encoder.out_dim)
        self.encoder = encoder

    def forward(self, obs: Tensor) -> Tensor:
        return self.encoder(obs)


class _FusionFeatures(BaseFeaturesExtractor):
    """SB3 features extractor: the residual paper's perceptive encoder
    (:class:`trainers.core.networks.FusionEncoder`) on the flat observation."""

    def __init__(self, observation_space: gym.spaces.Box, obs_dim: int, offset: int, shape: tuple[int, ...],
                 hidden: tuple[int, ...]):
        encoder = FusionEncoder(obs_dim, ImageSlice(offset, tuple(shape)), tuple(hidden), False)
        super().__init__(observation_space, encoder.out_dim)
        self.encoder = encoder

    def forward(self, obs: Tensor) -> Tensor:
        return self.encoder(obs)


def _normalize(x: Tensor, mean, var, epsilon: float, clip: float) -> Tensor:
    """float64 arithmetic then float32, exactly as ``VecNormalize.normalize_obs``."""
    mean = torch.as_tensor(mean, dtype=torch.float64, device=x.device)
    std = torch.sqrt(torch.as_tensor(var, dtype=torch.float64, device=x.device) + epsilon)
    return ((x.double() - mean) / std).clamp(-clip, clip).float()


@torch.no_grad()
def _act(net, x: Tensor, obs: Tensor, dtype: torch.dtype) -> Tensor:
    """The Gaussian's mean at normalised ``x``, clipped to the action space as SB3 does."""
    action = net._predict(x, deterministic=True).clamp(-1.0, 1.0)
    return action.to(device=obs.device, dtype=dtype)


def _numpy_rng_state() -> dict[str, Any]:
    """numpy's global RNG state (SB3 shuffles minibatches with it) as checkpoint-safe data."""
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002  (SB3 uses the legacy global RNG)
    return {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _set_numpy_rng_state(state: dict[str, Any] | None) -> None:
    if state is None:
        return
    keys = state["keys"].numpy().astype(np.uint32)
    np.random.set_state((state["name"], keys, state["pos"], state["has_gauss"], state["cached_gaussian"]))  # noqa: NPY002


__all__ = ["PPO", "PPOConfig"]
