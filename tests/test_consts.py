"""diffenvs.consts.const: numbers as cached tensors of an operand's dtype, with the same results."""

import pytest
import torch

from diffenvs.consts import const


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_const_gives_the_same_values_as_python_numbers(dtype):
    """Arithmetic and comparisons with ``const(c, x)`` equal those with the Python number, bit for bit."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 3, generator=g, dtype=dtype) * 10
    for c in (0.5, 1.0 / 3.0, -0.1 / 9.0, 2e-5, 7.0):
        k = const(c, x)
        assert k.dtype == dtype and k.shape == ()
        for ours, theirs in [(x * k, x * c), (k * x, c * x), (x / k, x / c), (x + k, x + c), (k - x, c - x),
                             (x < k, x < c), (torch.where(x > 0, k, x), torch.where(x > 0, c, x))]:
            assert torch.equal(ours, theirs)
    assert torch.equal(const((1.0, 0.0, -2.5), x), torch.tensor([1.0, 0.0, -2.5], dtype=dtype))


def test_const_is_cached_per_dtype_and_usable_with_autograd():
    """One tensor per (value, dtype, device); one made first under inference mode still takes part
    in a backward pass later (it is not an inference tensor)."""
    x32, x64 = torch.ones(2), torch.ones(2, dtype=torch.float64)
    assert const(0.25, x32) is const(0.25, x32)
    assert const(0.25, x32) is not const(0.25, x64)
    with torch.inference_mode():
        k = const(0.123456, x32)
    assert not k.is_inference()
    w = torch.ones(3, requires_grad=True)
    (w * const(0.123456, w)).sum().backward()
    assert torch.equal(w.grad, torch.full((3,), 0.123456))


@pytest.mark.parametrize("env_id, bound", [("DiffQuad-Hover-v0", 6), ("DiffQuadruped-Walk-v0", 25)])
def test_a_step_makes_few_dtype_copies(env_id, bound):
    """A guard against Python numbers creeping back into the step (each costs a dtype copy on
    CPU): Hover makes 4 copies per step, the quadruped 18 (real conversions and torch's own)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "count_dtype_copies.py"
    spec = importlib.util.spec_from_file_location("count_dtype_copies", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.count_copies(env_id) <= bound
