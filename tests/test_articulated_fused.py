"""The articulated robots' native control step and its native backward against the PyTorch ops."""

from __future__ import annotations

import threading

import gymnasium as gym
import pytest
import torch

import diffenvs  # noqa: F401
from diffenvs.articulated import fused

pytestmark = pytest.mark.skipif(not fused.available(), reason="no C compiler: the native step is not built")
F64 = torch.float64


def _robot(dtype=F64, n=16, **robot_options):
    env = gym.make_vec("DiffQuadruped-Walk-v0", num_envs=n, dtype=dtype, robot_options=robot_options).unwrapped
    env.reset(seed=0)
    return env.robot, env.get_state()


def _perturbed(state, seed, scale=1.0):
    """Standing robots pushed every way: some feet pressed in, some lifted, joints swinging."""
    g = torch.Generator().manual_seed(seed)
    s = {k: v.clone() for k, v in state.items()}
    n, dtype = s["base_pos"].shape[0], s["base_pos"].dtype

    def noise(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)

    s["base_pos"] = s["base_pos"] + scale * 0.03 * noise(n, 3)
    q = s["base_quat"] + scale * 0.1 * noise(n, 4)
    s["base_quat"] = q / q.norm(dim=-1, keepdim=True)
    s["joint_pos"] = s["joint_pos"] + scale * 0.2 * noise(n, 12)
    s["base_lin_vel"] = scale * 0.5 * noise(n, 3)
    s["base_ang_vel"] = scale * 1.0 * noise(n, 3)
    s["joint_vel"] = scale * 2.0 * noise(n, 12)
    s["foot_anchor"] = s["foot_anchor"] + scale * 0.01 * noise(n, 4, 2)
    return s, (torch.rand(n, 12, generator=g, dtype=dtype) * 4 - 2)  # targets beyond the torque limits too


def _steps(robot, state, actions, native: bool):
    keep = robot.fused_model
    robot.fused_model = keep if native else None
    try:
        with torch.no_grad():
            for a in actions:
                state = robot.step(state, a)
    finally:
        robot.fused_model = keep
    return state


@pytest.mark.parametrize("options", [{}, {"torque_smoothing": 0.0, "substeps": 4}, {"kp": 60.0, "kd": 2.0}])
def test_native_control_steps_equal_the_pytorch_ops(options):
    """Five control steps (float64) from pushed, swinging, partly airborne robots: every state
    field equals the PyTorch ops' to float rounding, for the default robot and other options
    (a hard torque clamp, other substeps, gains)."""
    robot, state = _robot(**options)
    assert robot.fused
    s, a = _perturbed(state, seed=1)
    actions = [a * (0.5 + 0.1 * k) for k in range(5)]
    native, ops = _steps(robot, s, actions, True), _steps(robot, s, actions, False)
    assert bool((ops["foot_force"] < 1.0).any())  # some feet in the air
    assert bool((ops["foot_force"] > 100.0).any())  # some pressed in
    for k in ops:
        torch.testing.assert_close(native[k], ops[k], rtol=1e-10, atol=1e-10, msg=k)


def test_native_float32_follows_float64_and_rows_are_independent():
    """float32 stays within float32 rounding of float64 over a step; each row of a batch equals
    its own single-robot call bit for bit; a blown-up row is NaN on its own."""
    robot64, state64 = _robot(F64, n=8)
    robot32, state32 = _robot(torch.float32, n=8)
    assert robot32.fused
    s, a = _perturbed(state64, seed=3, scale=0.5)
    s["joint_vel"][5] = float("nan")
    s32 = {k: v.float() for k, v in s.items()}
    out32 = _steps(robot32, s32, [a.float()], True)
    out64 = _steps(robot64, s, [a], True)
    ok = torch.arange(8) != 5
    for k in out64:
        scale = float(out64[k][ok].abs().max()) + 1.0
        torch.testing.assert_close(out32[k][ok].double(), out64[k][ok], rtol=0, atol=2e-4 * scale, msg=k)
    assert torch.isnan(out64["joint_vel"][5]).all() and torch.isfinite(out64["joint_vel"][ok]).all()
    for i in (0, 3, 7):
        single = _steps(robot64, {k: v[i:i + 1] for k, v in s.items()}, [a[i:i + 1]], True)
        for k in out64:
            assert torch.equal(single[k][0], out64[k][i]), k


_FIELDS = ("base_pos", "base_quat", "joint_pos", "base_lin_vel", "base_ang_vel", "joint_vel", "foot_anchor")


def _weights(n: int, dtype, rows=slice(None)) -> dict:
    """Fixed random weights of every state field and the feet's normal forces for ``n`` robots
    (those of ``rows``)."""
    g = torch.Generator().manual_seed(5)
    widths = {"base_pos": 3, "base_quat": 4, "joint_pos": 12, "base_lin_vel": 3, "base_ang_vel": 3, "joint_vel": 12,
              "foot_anchor": (4, 2), "foot_force": 4}
    return {k: torch.randn(n, *((w,) if isinstance(w, int) else w), generator=g, dtype=dtype)[rows]
            for k, w in widths.items()}


def _grads(robot, s, action, native: bool, steps: int = 2, weights: dict | None = None):
    """The state after ``steps`` control steps (the same action each) and the gradients of a fixed
    random linear function of it (``weights`` of every field and the feet's normal forces) with
    respect to the start state's fields and the action."""
    keep = robot.fused_model
    robot.fused_model = keep if native else None
    try:
        ins = {k: s[k].detach().clone().requires_grad_() for k in _FIELDS}
        a = action.detach().clone().requires_grad_()
        out = {**s, **ins}
        for _ in range(steps):
            out = robot.step(out, a)
    finally:
        robot.fused_model = keep
    w = weights or _weights(action.shape[0], action.dtype)
    loss = sum((out[k] * w[k]).sum() for k in w)
    return out, torch.autograd.grad(loss, [ins[k] for k in _FIELDS] + [a])


@pytest.mark.parametrize("options", [{}, {"torque_smoothing": 0.0, "substeps": 4}, {"kp": 60.0, "kd": 2.0}])
def test_native_backward_equals_autograd_through_the_pytorch_ops(options):
    """Two control steps (float64) from pushed, swinging, partly airborne robots with gradients:
    the native step's backward gives the gradients of autograd through the PyTorch ops with
    respect to every state field and the action, to float rounding."""
    robot, state = _robot(n=6, **options)
    s, target = _perturbed(state, seed=1)
    action = (target - robot.nominal) / robot.cfg.action_scale
    out, native = _grads(robot, s, action, True)
    assert out["foot_force"].grad_fn.name() == "_ControlStepBackward"
    ops_out, ops = _grads(robot, s, action, False)
    for k in _FIELDS:
        torch.testing.assert_close(out[k], ops_out[k], rtol=1e-10, atol=1e-10, msg=k)
    for name, a, b in zip((*_FIELDS, "action"), native, ops):
        scale = float(b.abs().max())
        assert scale > 0, name
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11 * scale, msg=name)


def test_kept_and_recomputed_intermediates_give_the_same_gradients(monkeypatch):
    """The backward reads each substep's intermediates from the forward's record for small batches
    and recomputes them for large ones (KEEP_BYTES): bit for bit the same gradients, NaN rows too."""
    robot, state = _robot(n=5)
    s, target = _perturbed(state, seed=9)
    s["joint_vel"][2] = float("nan")
    action = (target - robot.nominal) / robot.cfg.action_scale
    _, kept = _grads(robot, s, action, True)
    monkeypatch.setattr(fused, "KEEP_BYTES", 0)
    _, recomputed = _grads(robot, s, action, True)
    for a, b in zip(kept, recomputed):
        assert torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0))
        assert torch.isnan(a[2]).all()


def test_records_are_reused_only_once_their_graph_is_freed(monkeypatch):
    """A control step's record is reused by a later step once the graph that held it is gone, not
    while it lives: a graph kept across other steps' forward and backward passes still gives its own
    gradients bit for bit; with no room in the cache, records are made afresh, the same gradients."""
    robot, state = _robot(n=5)
    s, target = _perturbed(state, seed=4)
    action = (target - robot.nominal) / robot.cfg.action_scale
    monkeypatch.setattr(fused, "TAPES", fused.TapeCache())
    _, first = _grads(robot, s, action, True)
    kept = list(fused.TAPES._tapes)
    assert kept and all(t._use_count() == 1 for t in kept)  # the graph is gone: free to reuse
    # A graph held while two more unrolls from another start run their forward and backward.
    ins = {k: s[k].detach().clone().requires_grad_() for k in _FIELDS}
    out = robot.step({**s, **ins}, action)
    other, _ = _perturbed(state, seed=5)
    for _ in range(2):
        _grads(robot, other, action, True)
    assert len(fused.TAPES._tapes) > len(kept)  # the held record was not handed out: new ones were made
    held = torch.autograd.grad(out["joint_vel"].sum(), [ins[k] for k in _FIELDS])
    fused.TAPES.max_bytes = 0  # no room: every record new
    fresh_ins = {k: s[k].detach().clone().requires_grad_() for k in _FIELDS}
    fresh = torch.autograd.grad(robot.step({**s, **fresh_ins}, action)["joint_vel"].sum(),
                                [fresh_ins[k] for k in _FIELDS])
    for a, b in zip(held, fresh):
        assert torch.equal(a, b)
    _, again = _grads(robot, s, action, True)
    for a, b in zip(first, again):
        assert torch.equal(a, b)
    fused.TAPES.clear()
    assert not fused.TAPES._tapes
    other = []  # another thread keeps records of its own
    worker = threading.Thread(target=lambda: other.append((_grads(robot, s, action, True)[1], fused.TAPES._tapes)))
    fused.TAPES.max_bytes = 1 << 30
    _grads(robot, s, action, True)
    worker.start()
    worker.join()
    assert other[0][1] and not any(t is u for t in other[0][1] for u in fused.TAPES._tapes)
    for a, b in zip(first, other[0][0]):
        assert torch.equal(a, b)


def test_native_backward_matches_finite_differences():
    """``torch.autograd.gradcheck`` of one control step (float64, central differences) with
    respect to the state and the targets of two robots, one standing, one pushed."""
    robot, state = _robot(n=2, substeps=3)
    s, target = _perturbed(state, seed=4, scale=0.3)
    s = {k: torch.cat([state[k][:1], s[k][1:]]) for k in s}
    sm = robot.fused_model

    def step(qpos, qvel, anchor, tg):
        return fused.control_step(sm, qpos, qvel, anchor, tg)

    inputs = (robot.qpos(s), robot.qvel(s), s["foot_anchor"], target)
    assert torch.autograd.gradcheck(step, tuple(x.detach().clone().requires_grad_() for x in inputs),
                                    eps=1e-7, atol=1e-5, rtol=1e-4)


def test_native_backward_rows_float32_and_a_blown_up_robot():
    """Each row's gradients equal its own single-robot call's bit for bit; a blown-up robot gets
    NaN gradients in its own row only; float32 gradients follow float64's."""
    robot64, state64 = _robot(F64, n=6)
    robot32, state32 = _robot(torch.float32, n=6)
    s, target = _perturbed(state64, seed=3, scale=0.5)
    action = (target - robot64.nominal) / robot64.cfg.action_scale
    s["joint_vel"][4] = float("nan")
    _, g64 = _grads(robot64, s, action, True, steps=1)
    ok = torch.arange(6) != 4
    for g in g64:
        assert torch.isnan(g[4]).all() and torch.isfinite(g[ok]).all()
    for i in (0, 2, 5):
        _, single = _grads(robot64, {k: v[i:i + 1] for k, v in s.items()}, action[i:i + 1], True, steps=1,
                           weights=_weights(6, F64, slice(i, i + 1)))
        for a, b in zip(single, g64):
            assert torch.equal(a[0], b[i])
    _, g32 = _grads(robot32, {k: v.float() for k, v in s.items()}, action.float(), True, steps=1,
                    weights={k: v.float() for k, v in _weights(6, F64).items()})
    for a, b in zip(g32, g64):
        scale = float(b[ok].abs().max())
        torch.testing.assert_close(a[ok].double(), b[ok], rtol=0, atol=1e-3 * scale)


def test_fused_off_takes_the_pytorch_ops_with_and_without_gradients():
    robot, state = _robot(n=3, fused=False)
    assert not robot.fused and "fused" not in robot.describe()
    s, target = _perturbed(state, seed=5)
    a = ((target - robot.nominal) / robot.cfg.action_scale).requires_grad_()
    out = robot.step(s, a)
    assert out["foot_force"].grad_fn.name() != "_ControlStepBackward"
    out["joint_vel"].sum().backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    with torch.no_grad():
        assert not robot.step(s, a)["joint_vel"].requires_grad


def test_threaded_calls_equal_one_thread(monkeypatch):
    """A large batch is split over torch's threads; every row and its gradients come out as from
    one thread."""
    robot, state = _robot(torch.float32, n=40)
    s, a = _perturbed(state, seed=7, scale=0.5)
    monkeypatch.setattr(fused, "MIN_ROWS_PER_THREAD", 8)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _steps(robot, s, [a.float()], True)
        torch.set_num_threads(3)
        many = _steps(robot, s, [a.float()], True)
    finally:
        torch.set_num_threads(threads)
    for k in one:
        assert torch.equal(one[k], many[k]), k
    action = ((a.float() - robot.nominal) / robot.cfg.action_scale)
    try:
        torch.set_num_threads(1)
        _, one = _grads(robot, s, action, True, steps=1)
        torch.set_num_threads(3)
        _, many = _grads(robot, s, action, True, steps=1)
    finally:
        torch.set_num_threads(threads)
    for x, y in zip(one, many):
        assert torch.equal(x, y)


def test_native_feet_equal_the_kinematics():
    from diffenvs.articulated import kinematics, point_positions

    robot, state = _robot(n=6)
    s, _ = _perturbed(state, seed=11)
    with torch.no_grad():
        native = robot.feet(s)
    qpos = robot.qpos(s)
    ops = point_positions(kinematics(robot.mt, qpos), robot.mt.foot_body, robot.mt.foot_pos)
    torch.testing.assert_close(native, ops, rtol=1e-12, atol=1e-12)
    assert robot.feet({k: v.requires_grad_() if v.is_floating_point() else v for k, v in s.items()}).requires_grad


def test_native_feet_backward_equals_autograd_and_finite_differences():
    """The feet's native backward (float64) gives autograd's gradient through the PyTorch
    kinematics with respect to every coordinate (base position, attitude, joints) to float
    rounding, each row its own single-robot call's bit for bit, and passes ``gradcheck``."""
    from diffenvs.articulated import kinematics, point_positions

    robot, state = _robot(n=6)
    s, _ = _perturbed(state, seed=12)
    sm, qpos = robot.fused_model, robot.qpos(s)
    w = torch.randn(6, 4, 3, generator=torch.Generator().manual_seed(3), dtype=F64)

    def grad(fn, q, rows=slice(None)):
        q = q.detach().clone().requires_grad_()
        out = fn(q)
        return out, torch.autograd.grad((out * w[rows]).sum(), q)[0]

    out, native = grad(lambda q: fused.feet(sm, q), qpos)
    assert out.grad_fn.name() == "_FeetBackward"
    _, ops = grad(lambda q: point_positions(kinematics(robot.mt, q), robot.mt.foot_body, robot.mt.foot_pos), qpos)
    torch.testing.assert_close(native, ops, rtol=0, atol=1e-12 * float(ops.abs().max()))
    assert torch.equal(grad(lambda q: fused.feet(sm, q), qpos[3:4], slice(3, 4))[1], native[3:4])
    assert torch.autograd.gradcheck(lambda q: fused.feet(sm, q), qpos[:2].detach().clone().requires_grad_(),
                                    eps=1e-7, atol=1e-6, rtol=1e-5)


def test_a_forked_child_steps_with_threads(monkeypatch):
    """The thread pool of a parent that has stepped is not reused by a forked child (its threads are
    gone there): the child steps a threaded batch and returns."""
    import multiprocessing as mp

    monkeypatch.setattr(fused, "MIN_ROWS_PER_THREAD", 4)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        robot, state = _robot(torch.float32, n=16)
        s, a = _perturbed(state, seed=2, scale=0.5)
        expected = _steps(robot, s, [a.float()], True)["joint_vel"]  # the parent's pool now exists
        ctx = mp.get_context("fork")
        queue = ctx.Queue()

        def child():
            queue.put(_steps(robot, s, [a.float()], True)["joint_vel"].numpy())

        proc = ctx.Process(target=child)
        proc.start()
        out = queue.get(timeout=60)
        proc.join(timeout=60)
    finally:
        torch.set_num_threads(threads)
    assert proc.exitcode == 0 and torch.equal(torch.from_numpy(out), expected)
