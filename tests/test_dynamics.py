"""Physics sanity of the quadrotor core, checked against closed-form results (float64)."""

import math

import pytest
import torch

from diffenvs.robots.quadrotor import (
    PRESETS,
    ParamTensors,
    action_to_thrust,
    derivative,
    integrate,
    make_state,
    mixer_matrix,
)
from diffenvs.rotations import (
    quat_conj,
    quat_from_axis_angle,
    quat_from_euler,
    quat_mul,
    quat_normalize,
    quat_rotate,
    quat_rotate_inverse,
    quat_to_rotmat,
)

F64 = dict(dtype=torch.float64, device="cpu")


def params(**changes):
    vehicle = PRESETS["drone460"].replace(**changes) if changes else PRESETS["drone460"]
    return ParamTensors(vehicle, **F64)


def random_quat(n, gen):
    return quat_normalize(torch.randn(n, 4, generator=gen, **F64))


# ---------------------------------------------------------------- rotations
def test_quaternion_rotation_matches_matrix_and_inverse():
    gen = torch.Generator().manual_seed(0)
    q = random_quat(16, gen)
    v = torch.randn(16, 3, generator=gen, **F64)
    R = quat_to_rotmat(q)
    torch.testing.assert_close(quat_rotate(q, v), (R @ v.unsqueeze(-1)).squeeze(-1))
    torch.testing.assert_close(quat_rotate_inverse(q, quat_rotate(q, v)), v)
    torch.testing.assert_close(R @ R.transpose(1, 2), torch.eye(3, **F64).expand(16, 3, 3))
    # Hamilton product composes rotations: rotating by a⊗b = rotating by b, then a.
    a, b = random_quat(16, gen), random_quat(16, gen)
    torch.testing.assert_close(quat_rotate(quat_mul(a, b), v), quat_rotate(a, quat_rotate(b, v)))
    torch.testing.assert_close(quat_mul(q, quat_conj(q)), torch.tensor([[1.0, 0, 0, 0]], **F64).expand(16, 4))


def test_quaternion_convention_body_to_world():
    # A +90 deg yaw maps the body x axis (forward) to world +y.
    q = quat_from_axis_angle(torch.tensor([[0.0, 0.0, 1.0]], **F64), torch.tensor([math.pi / 2], **F64))
    torch.testing.assert_close(quat_rotate(q, torch.tensor([[1.0, 0, 0]], **F64)), torch.tensor([[0.0, 1, 0]], **F64))
    torch.testing.assert_close(quat_from_euler(*torch.tensor([[0.0], [0.0], [math.pi / 2]], **F64)), q)


# ------------------------------------------------------------------- mixer
def test_mixer_matches_cross_products_and_yaw_directions():
    p = PRESETS["drone460"]
    M = torch.tensor(mixer_matrix(p), **F64)
    h = p.arm_length / math.sqrt(2)
    positions = [(h, -h), (-h, h), (h, h), (-h, -h)]  # FR, BL, FL, BR
    yaw_dir = [-1, -1, 1, 1]  # CCW rotors push the body clockwise
    for i, (x, y) in enumerate(positions):
        f = torch.zeros(4, **F64)
        f[i] = 2.0
        r = torch.tensor([x, y, 0.0], **F64)
        tau = torch.linalg.cross(r, torch.tensor([0.0, 0.0, 2.0], **F64), dim=-1)
        expected = torch.cat([torch.tensor([2.0], **F64), tau[:2], torch.tensor([2.0 * p.kappa * yaw_dir[i]], **F64)])
        torch.testing.assert_close(M @ f, expected)


# ------------------------------------------------------------------ physics
@pytest.mark.parametrize("integrator", ["euler", "rk4"])
@pytest.mark.parametrize("motor_lag", [False, True])
def test_hover_thrust_holds_position(integrator, motor_lag):
    P = params()
    hover = P.params.hover_thrust
    x = make_state(torch.tensor([[1.0, 2.0, 3.0]], **F64), hover_thrust=hover)
    f = torch.full((1, 4), hover, **F64)
    for _ in range(500):
        x = integrate(x, f, P, 0.02, integrator, motor_lag)
    torch.testing.assert_close(x[:, :3], torch.tensor([[1.0, 2.0, 3.0]], **F64), atol=1e-10, rtol=0)
    torch.testing.assert_close(x[:, 7:13], torch.zeros(1, 6, **F64), atol=1e-10, rtol=0)


def test_free_fall():
    P = params(drag=(0.0, 0.0, 0.0))
    dt, n, z0 = 0.01, 100, 50.0
    x0 = make_state(torch.tensor([[0.0, 0.0, z0]], **F64))
    f = torch.zeros(1, 4, **F64)
    x_rk4, x_eul = x0, x0
    for _ in range(n):
        x_rk4 = integrate(x_rk4, f, P, dt, "rk4")
        x_eul = integrate(x_eul, f, P, dt, "euler")
    g, t = 9.81, n * dt
    # RK4 is exact for constant acceleration; explicit Euler follows its discrete sum.
    assert abs(x_rk4[0, 2].item() - (z0 - 0.5 * g * t**2)) < 1e-10
    assert abs(x_rk4[0, 9].item() + g * t) < 1e-10
    assert abs(x_eul[0, 2].item() - (z0 - g * dt**2 * n * (n - 1) / 2)) < 1e-10


def test_quaternion_stays_unit():
    P = params()
    gen = torch.Generator().manual_seed(1)
    # Explicit Euler at dt = 0.02 slowly pumps energy into fast tumbling, so stay at
    # realistic rates (the env terminates drones above max_rate anyway).
    x = make_state(torch.zeros(8, 3, **F64), random_quat(8, gen), omega=2 * torch.randn(8, 3, generator=gen, **F64))
    f = P.params.hover_thrust + 0.05 * (2 * torch.rand(8, 4, generator=gen, **F64) - 1)  # tumbling, < 100 rad/s
    for _ in range(300):
        x = integrate(x, f, P, 0.02, "euler")
        assert torch.allclose(x[:, 3:7].norm(dim=-1), torch.ones(8, **F64), atol=1e-12)


def test_torque_free_spin_conserves_angular_momentum_and_energy():
    P = params()
    J = P.inertia
    q0 = quat_normalize(torch.tensor([[0.9, 0.1, -0.2, 0.3]], **F64))
    x = make_state(torch.zeros(1, 3, **F64), q0, omega=torch.tensor([[3.0, -1.0, 2.0]], **F64))
    f = torch.full((1, 4), 1.0, **F64)  # equal thrusts: zero torque

    def momentum(x):
        return quat_rotate(x[:, 3:7], J * x[:, 10:13])

    def energy(x):
        return 0.5 * (J * x[:, 10:13] ** 2).sum()

    L0, E0 = momentum(x), energy(x)
    for _ in range(1000):
        x = integrate(x, f, P, 1e-3, "rk4")
    torch.testing.assert_close(momentum(x), L0, atol=1e-8, rtol=0)
    assert abs(energy(x) - E0) < 1e-9
    assert not torch.allclose(x[:, 10:13], torch.tensor([[3.0, -1.0, 2.0]], **F64))  # it does tumble


@pytest.mark.parametrize("motor_lag", [False, True])
def test_integrators_show_their_convergence_order(motor_lag):
    P = params()
    gen = torch.Generator().manual_seed(2)
    x0 = make_state(torch.zeros(4, 3, **F64), random_quat(4, gen), torch.randn(4, 3, generator=gen, **F64),
                    torch.randn(4, 3, generator=gen, **F64), hover_thrust=P.params.hover_thrust)
    f = action_to_thrust(0.3 * torch.rand(4, 4, generator=gen, **F64) - 0.5, P)
    T = 0.4

    def run(method, dt):
        x = x0
        for _ in range(round(T / dt)):
            x = integrate(x, f, P, dt, method, motor_lag)
        return x

    ref = run("rk4", T / 3200)
    for method, order in (("euler", 1), ("rk4", 4)):
        errs = [(run(method, T / n) - ref).abs().max().item() for n in (40, 80, 160)]
        rates = [math.log2(errs[i] / errs[i + 1]) for i in range(2)]
        assert all(abs(r - order) < 0.35 for r in rates), (method, errs, rates)


def test_motor_lag_is_first_order():
    P = params()
    tau = P.params.motor_time_constant
    x = make_state(torch.zeros(1, 3, **F64) + 5.0, thrust=torch.zeros(1, 4, **F64))
    f = torch.full((1, 4), 2.0, **F64)
    dt, n = 1e-3, 50
    for _ in range(n):
        x = integrate(x, f, P, dt, "rk4", motor_lag=True)
    expected = 2.0 * (1 - math.exp(-n * dt / tau))
    torch.testing.assert_close(x[:, 13:17], torch.full((1, 4), expected, **F64), atol=1e-7, rtol=0)


# -------------------------------------------------------------- gradients
@pytest.mark.parametrize("integrator", ["euler", "rk4"])
@pytest.mark.parametrize("motor_lag", [False, True])
def test_gradcheck_one_step(integrator, motor_lag):
    P = params()
    gen = torch.Generator().manual_seed(3)
    x = make_state(torch.randn(3, 3, generator=gen, **F64), random_quat(3, gen),
                   torch.randn(3, 3, generator=gen, **F64), torch.randn(3, 3, generator=gen, **F64),
                   thrust=torch.rand(3, 4, generator=gen, **F64) * 3).requires_grad_()
    a = (torch.rand(3, 4, generator=gen, **F64) * 1.8 - 0.9).requires_grad_()

    def step(x, a):
        return integrate(x, action_to_thrust(a, P), P, 0.02, integrator, motor_lag)

    assert torch.autograd.gradcheck(step, (x, a), eps=1e-6, atol=1e-7)


def test_derivative_gradcheck():
    P = params()
    gen = torch.Generator().manual_seed(4)
    x = make_state(torch.randn(2, 3, generator=gen, **F64), random_quat(2, gen),
                   torch.randn(2, 3, generator=gen, **F64), torch.randn(2, 3, generator=gen, **F64)).requires_grad_()
    f = torch.rand(2, 4, generator=gen, **F64).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, f: derivative(x, f, P, True), (x, f))
