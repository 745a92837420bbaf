"""The hover benchmark's reward and termination for TD3 on l2f (benchmarks/hover_vs_rltools.py):
hand-computed cases, and (with the peers extra) agreement with l2f's own compiled reward."""

import math
import pathlib
from types import SimpleNamespace

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def harness():
    from test_examples import load

    return load(ROOT / "benchmarks" / "hover_vs_rltools.py")


def state(position=(0, 0, 0), orientation=(1, 0, 0, 0), velocity=(0, 0, 0), omega=(0, 0, 0)):
    return SimpleNamespace(position=position, orientation=orientation, linear_velocity=velocity,
                           angular_velocity=omega)


def test_squared_reward_hand_computed(harness):
    w = harness.MDPS["zoo"]["reward"]
    hover = [2 * harness.HOVER_THROTTLE - 1] * 4  # the action that is the hover throttle
    assert harness.squared_reward(w, state(), hover, state(), False) == pytest.approx(1.0)
    # 0.3 m off, 0.5 m/s, full throttle on every motor:
    # 1 - 0.1 * (10 * 0.3 + 0.05 * 0.5 + 0.1 * 4 * (1 - 0.72614)^2)
    s = state(position=(0.3, 0, 0), velocity=(0, 0.3, 0.4))
    expected = 1.0 - 0.1 * (10 * 0.3 + 0.05 * 0.5 + 0.1 * 4 * (1 - harness.HOVER_THROTTLE) ** 2)
    assert harness.squared_reward(w, s, [1.0] * 4, s, False) == pytest.approx(expected)
    assert harness.squared_reward(w, s, [1.0] * 4, s, True) == 0.0  # termination is rewarded 0
    # The as-built weights: position clipped at 2.5 m, orientation weight 1, angular acceleration 2.
    b = harness.MDPS["as-built"]["reward"]
    far = state(position=(3.0, 0, 0), orientation=(0.8, 0, 0, 0.6))
    spun = state(omega=(0.0, 0.0, 0.05))
    expected = 1.1 - 0.1 * (10 * 2.5 + 2 * math.acos(1 - 0.6) + 2.0 * 0.05 / harness.DT)
    assert harness.squared_reward(b, far, [0.0] * 4, spun, False) == pytest.approx(expected)


def test_termination_thresholds(harness):
    zoo, l2f = harness.MDPS["zoo"]["termination"], harness.MDPS["as-built"]["termination"]
    assert not harness.ended(state(velocity=(0, 0, -5.0)), zoo) and harness.ended(state(velocity=(0, 0, -5.0)), l2f)
    assert harness.ended(state(position=(0, -1.01, 0)), zoo)
    assert harness.ended(state(omega=(36.0, 0, 0)), zoo) and not harness.ended(state(omega=(34.0, 0, 0)), zoo)


def test_as_built_weights_are_what_l2f_computes(harness):
    pytest.importorskip("l2f")
    assert harness.check_reward(steps=300) < 1e-5
