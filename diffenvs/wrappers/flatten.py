"""Flat observations: the layout of a ``Dict`` observation as one vector, and a wrapper
that presents it so (for learners that take ``Box`` observations, such as SB3's PPO)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from .base import ObservationWrapper


@dataclass(frozen=True)
class ImageSlice:
    """Where a flattened observation holds an image: ``offset`` and ``(C, H, W)`` shape."""

    offset: int
    shape: tuple[int, int, int]

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def _image(shape: tuple[int, ...], offset: int) -> ImageSlice | None:
    """An entry of 2 (``H, W``) or 3 (``C, H, W``) dimensions is an image."""
    if len(shape) == 2:
        return ImageSlice(offset, (1, *shape))
    if len(shape) == 3:
        return ImageSlice(offset, tuple(shape))
    return None


def obs_layout(space: gym.Space) -> tuple[int, Callable[[Any], Tensor], ImageSlice | None]:
    """``(obs_dim, flatten, image)`` for an observation space.

    A 1-D ``Box`` is used as it is; a ``Dict`` of ``Box`` es is concatenated, each entry
    flattened, in the space's key order (a ``Box`` of images is flattened too).
    ``flatten(obs)`` maps a batched observation to ``(N, obs_dim)``; ``image`` says where
    the flat vector holds the first entry of 2 or 3 dimensions (``None``: none), so that
    image encoders can take it back out.
    """
    if isinstance(space, gym.spaces.Dict):
        keys = list(space.spaces)
        sizes = [int(math.prod(space[k].shape)) for k in keys]
        offsets = [sum(sizes[:i]) for i in range(len(keys))]
        image = next((s for s in (_image(space[k].shape, o) for k, o in zip(keys, offsets)) if s), None)

        def flatten(obs):
            return torch.cat([obs[k].flatten(1) for k in keys], dim=-1)

        return sum(sizes), flatten, image
    if len(space.shape) > 1:
        return int(math.prod(space.shape)), lambda obs: obs.flatten(1), _image(space.shape, 0)
    return int(math.prod(space.shape)), lambda obs: obs, None


class FlattenObsEnv(ObservationWrapper):
    """A batched diffenvs env whose ``Dict`` (or image) observation is presented as one flat
    ``Box`` vector, in the layout of :func:`obs_layout` (``layout`` holds it). Differentiable."""

    def __init__(self, env):
        dim, self._flatten, image = obs_layout(env.single_observation_space)
        super().__init__(env, gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32))
        self.image = image

    def observation(self, obs):
        return self._flatten(obs), None
