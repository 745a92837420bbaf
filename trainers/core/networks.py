"""Policies and critics.

The actor is the tanh-squashed Gaussian of ABPT eq. 11, ``a = tanh(μ(s) + σ(s) ε)``,
``ε ~ N(0, I)`` (reparameterised, so the action is differentiable in the parameters).
Its encoder (``NetConfig.encoder``) is one of

* ``"mlp"`` (default): the ABPT authors' architecture, a 192-unit feature layer followed
  by heads of [192, 96] units, ReLU;
* ``"linear"``: the residual paper's navigation policy (§IV-C), a single dense layer from
  the flattened observation (depth image and state concatenated) to the outputs;
* ``"nature_cnn"``: the Atari "Nature" CNN (Mnih et al. 2015: 32 8x8/4, 64 4x4/2, 64
  3x3/1 convolutions and 512 units) on the observation's image, its output concatenated
  with the rest of the observation and followed by the hidden layers (for images of at
  least 36x36, e.g. 84x84 depth);
* ``"fusion"``: the residual paper's perceptive policy (Fig. 2): everything but the image
  (proprioception, and the anchor's action in residual runs) through an MLP of widths
  ``hidden`` (the paper: [128, 64]), concatenated with the flattened image, then one dense
  layer of ``feature_dim`` units (the paper: 128) before the outputs.

Critics use the MLP shape: ``V(s)`` (SHAC) and ``Q(s, a)`` (ABPT).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from diffenvs.wrappers.flatten import ImageSlice

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


@dataclass(frozen=True)
class NetConfig:
    """Network shape.

    Attributes:
        feature_dim: width of the shared feature layer.
        hidden: widths of the hidden layers of each head.
        layer_norm: apply LayerNorm after every hidden linear layer (residual learning).
        last_layer_scale: multiply the initial weights of the actor's output layer (a
            value near 0 starts a residual policy near the anchor).
        std_scale: multiply the sampling standard deviation (1/√10 for residual learning:
            "action sampling variance reduced ×10", residual paper §III-B).
        init_log_std: initial log standard deviation of the actor (before std_scale).
        encoder: the actor's architecture, ``"mlp"``, ``"linear"`` or ``"nature_cnn"``
            (see the module docstring).
        state_std: the standard deviation is a function of the state (a linear head on
            the features, as ABPT eq. 11); ``False``: one learned value per action
            dimension, as in SHAC's and PPO's usual policies (steadier with a wide linear
            policy, whose state-dependent head would see every pixel).
    """

    feature_dim: int = 192
    hidden: tuple[int, ...] = (192, 96)
    layer_norm: bool = False
    last_layer_scale: float = 1.0
    std_scale: float = 1.0
    init_log_std: float = -0.5
    encoder: str = "mlp"
    state_std: bool = True

    def __post_init__(self):
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {list(ENCODERS)}")


#: The actor architectures (``NetConfig.encoder``).
ENCODERS = ("mlp", "linear", "nature_cnn", "fusion")


def residual_net(net: NetConfig) -> NetConfig:
    """The residual paper's network settings (§III-B) applied to ``net``: layer normalisation,
    a last layer initialised near zero, and the action sampling variance reduced ×10."""
    return dataclasses.replace(net, layer_norm=True, last_layer_scale=0.01, std_scale=10**-0.5)


def mlp(sizes: list[int], layer_norm: bool) -> nn.Sequential:
    """Linear layers of ``sizes``, each followed by LayerNorm (``layer_norm``) and a ReLU. The ReLU
    works in place (on the fresh output of the layer before it: the same values and gradients, one
    allocation less; about 3 % of a critic update, ``benchmarks/bench_critic_relu.py``)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if layer_norm:
            layers.append(nn.LayerNorm(sizes[i + 1]))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class NatureCNN(nn.Module):
    """The Atari "Nature" CNN (Mnih et al. 2015) on ``(N, C, H, W)`` images -> ``(N, 512)``."""

    def __init__(self, shape: tuple[int, int, int], out_dim: int = 512):
        super().__init__()
        c, h, w = shape
        if min(h, w) < 36:
            raise ValueError(f"the Nature CNN needs images of at least 36x36 pixels, got {h}x{w}; use "
                             f"encoder='linear' or 'mlp' for small images (e.g. 16x12 depth)")
        self.conv = nn.Sequential(nn.Conv2d(c, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
                                  nn.Conv2d(64, 64, 3, 1), nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            n = self.conv(torch.zeros(1, c, h, w)).shape[1]
        self.fc = nn.Sequential(nn.Linear(n, out_dim), nn.ReLU())
        self.out_dim = out_dim

    def forward(self, image: Tensor) -> Tensor:
        return self.fc(self.conv(image))


class ImageEncoder(nn.Module):
    """A flattened observation -> the CNN's features of its image, concatenated with the
    observation's other values."""

    def __init__(self, obs_dim: int, image: ImageSlice):
        super().__init__()
        self.image = image
        self.cnn = NatureCNN(image.shape)
        self.out_dim = self.cnn.out_dim + obs_dim - image.size

    def forward(self, obs: Tensor) -> Tensor:
        lo, hi = self.image.offset, self.image.offset + self.image.size
        pixels = obs[..., lo:hi].reshape(*obs.shape[:-1], *self.image.shape)
        flat = pixels.reshape(-1, *self.image.shape)
        features = self.cnn(flat).reshape(*obs.shape[:-1], -1)
        return torch.cat([features, obs[..., :lo], obs[..., hi:]], -1)


class FusionEncoder(nn.Module):
    """A flattened observation -> an MLP of everything but its image, concatenated with the
    flattened image (the residual paper's perceptive policy, Fig. 2)."""

    def __init__(self, obs_dim: int, image: ImageSlice, hidden: tuple[int, ...], layer_norm: bool):
        super().__init__()
        self.image = image
        self.mlp = mlp([obs_dim - image.size, *hidden], layer_norm)
        self.out_dim = (hidden[-1] if hidden else obs_dim - image.size) + image.size

    def forward(self, obs: Tensor) -> Tensor:
        lo, hi = self.image.offset, self.image.offset + self.image.size
        rest = torch.cat([obs[..., :lo], obs[..., hi:]], -1)
        return torch.cat([self.mlp(rest), obs[..., lo:hi]], -1)


def _need_image(encoder: str, image: ImageSlice | None) -> ImageSlice:
    if image is None:
        raise ValueError(f"encoder={encoder!r} needs an observation with an image (a Dict entry of 2 or 3 "
                         f"dimensions, e.g. 'depth')")
    return image


class ConstantHead(nn.Module):
    """A head whose output ignores its input: one learned value per output (``bias``)."""

    def __init__(self, out_dim: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, h: Tensor) -> Tensor:
        return self.bias.expand(*h.shape[:-1], self.bias.shape[0])


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy ``π_θ(a|s)`` (eq. 11) with the encoder of ``cfg``
    (``image``: where the flattened observation holds its image, for ``"nature_cnn"``).

    ``squash_jacobian`` (default ``True``): the log-probability is that of the squashed action
    (the Gaussian's minus the tanh Jacobian, as SAC); ``False``: that of the Gaussian before
    the tanh, whose entropy depends on the standard deviation only (ABPT's ``entropy_of``).
    """

    squash_jacobian: bool = True

    def __init__(self, obs_dim: int, act_dim: int, cfg: NetConfig = NetConfig(), image: ImageSlice | None = None):
        super().__init__()
        self.cfg = cfg
        if cfg.encoder == "linear":
            self.features, self.body, width = nn.Identity(), nn.Identity(), obs_dim
        elif cfg.encoder == "nature_cnn":
            self.features = ImageEncoder(obs_dim, _need_image(cfg.encoder, image))
            self.body = mlp([self.features.out_dim, *cfg.hidden], cfg.layer_norm)
            width = cfg.hidden[-1]
        elif cfg.encoder == "fusion":
            self.features = FusionEncoder(obs_dim, _need_image(cfg.encoder, image), cfg.hidden, cfg.layer_norm)
            self.body = mlp([self.features.out_dim, cfg.feature_dim], cfg.layer_norm)
            width = cfg.feature_dim
        else:
            self.features = mlp([obs_dim, cfg.feature_dim], cfg.layer_norm)
            self.body = mlp([cfg.feature_dim, *cfg.hidden], cfg.layer_norm)
            width = cfg.hidden[-1]
        self.mean = nn.Linear(width, act_dim)
        self.log_std = nn.Linear(width, act_dim) if cfg.state_std else ConstantHead(act_dim)
        with torch.no_grad():
            self.mean.weight.mul_(cfg.last_layer_scale)
            self.mean.bias.zero_()
            if cfg.state_std:
                self.log_std.weight.mul_(0.1)
            self.log_std.bias.fill_(cfg.init_log_std)
        self.log_std_scale = math.log(cfg.std_scale)

    def distribution(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        h = self.body(self.features(obs))
        log_std = self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX) + self.log_std_scale
        return self.mean(h), log_std

    def forward(self, obs: Tensor, deterministic: bool = False, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Sample ``(action, log_prob)``; ``deterministic`` returns ``tanh(μ)`` and its log-density;
        ``noise`` (standard normal, shaped like the action) replaces the drawn noise."""
        mu, log_std = self.distribution(obs)
        std = log_std.exp()
        if deterministic:
            u = mu
        else:
            u = mu + std * (torch.randn_like(mu) if noise is None else noise)
        a = torch.tanh(u)
        # log N(u; μ, σ) minus the tanh Jacobian, summed over action dims.
        log_prob = (-0.5 * ((u - mu) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        if self.squash_jacobian:
            log_prob = log_prob - (2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))).sum(-1)
        return a, log_prob

    def act(self, obs: Tensor) -> Tensor:
        """Deterministic action ``tanh(μ(s))`` (evaluation)."""
        return torch.tanh(self.distribution(obs)[0])


class VCritic(nn.Module):
    """State-value function ``V_φ(s)``."""

    def __init__(self, obs_dim: int, cfg: NetConfig = NetConfig()):
        super().__init__()
        self.net = nn.Sequential(mlp([obs_dim, cfg.feature_dim, *cfg.hidden], cfg.layer_norm),
                                 nn.Linear(cfg.hidden[-1], 1))

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs).squeeze(-1)


class QCritic(nn.Module):
    """Twin action-value functions ``Q_φ(s, a)``; ``forward`` returns all, ``(heads, N)``
    (``heads=1``: a single critic)."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: NetConfig = NetConfig(), heads: int = 2):
        super().__init__()
        self.q = nn.ModuleList(
            nn.Sequential(mlp([obs_dim + act_dim, cfg.feature_dim, *cfg.hidden], cfg.layer_norm),
                          nn.Linear(cfg.hidden[-1], 1))
            for _ in range(heads)
        )

    def forward(self, obs: Tensor, action: Tensor) -> Tensor:
        x = torch.cat([obs, action], dim=-1)
        return torch.stack([q(x).squeeze(-1) for q in self.q])


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """``φ⁻ ← (1 - τ) φ⁻ + τ φ`` (one multi-tensor lerp: the same values as a lerp per
    parameter, in a few kernels instead of one per parameter)."""
    with torch.no_grad():
        torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)


def adam(params, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with its multi-tensor implementation (``foreach``; on CPU PyTorch otherwise loops
    over the parameters, about ten kernels each). Bit for bit the same updates as the loop;
    the ``fused`` kernel is not (it rounds differently), so it is not used."""
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=True)
