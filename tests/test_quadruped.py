"""The quadruped envs: settled starts, the trot reference, open-loop trotting, the walk task's terms."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import diffenvs  # noqa: F401


def test_episodes_start_settled_on_the_ground():
    env = gym.make_vec("DiffQuadruped-Walk-v0", num_envs=3, dtype=torch.float64).unwrapped
    env.reset(seed=0)
    s = env.get_state()
    assert torch.allclose(s["foot_force"].sum(-1), torch.full((3,), env.robot.model.total_mass * 9.81,
                                                              dtype=torch.float64), rtol=0.02)
    with torch.no_grad():
        for _ in range(25):  # 0.5 s at the nominal targets: it stays where it started
            env.step_differentiable(torch.zeros(3, 12, dtype=torch.float64))
    s2 = env.get_state()
    assert float((s2["base_pos"] - s["base_pos"]).abs().max()) < 0.02
    assert float(s2["base_lin_vel"].abs().max()) < 0.05


def test_trot_reference_alternates_diagonal_pairs_and_lifts_the_feet():
    env = gym.make_vec("DiffQuadruped-Trot-v0", num_envs=1, dtype=torch.float64).unwrapped
    env.reset(seed=0)
    task, robot = env.task, env.robot
    state = env.get_state()
    period = round(1.0 / (task.cfg.gait.frequency * env.dt))
    lifts = []
    for k in range(period):
        phase = task.phases(state, step_offset=k)
        swing = task.swing(phase)[0]
        assert float(swing[0]) == pytest.approx(float(swing[3])) and float(swing[1]) == pytest.approx(float(swing[2]))
        assert float(swing[0] * swing[1]) == 0.0  # never both pairs in swing
        pose, nominal = robot.at_rest(1), robot.at_rest(1)
        pose["joint_pos"] = robot.nominal.unsqueeze(0) + task.reference(phase)
        nominal["joint_pos"] = robot.nominal.unsqueeze(0)
        lifts.append(robot.feet(pose)[0, :, 2] - robot.feet(nominal)[0, :, 2])
    lifts = torch.stack(lifts)
    assert float(lifts.max()) > 0.05 and float(lifts.min()) > -1e-9  # each foot rises ~ the gait's height
    assert task.cfg.gait.frequency == 2.0  # two touch-downs per foot and second


def test_open_loop_trot_stays_upright():
    """The engine check "a trot keeps it upright": the reference as PD targets for 3 s."""
    env = gym.make_vec("DiffQuadruped-Trot-v0", num_envs=2).unwrapped
    env.reset(seed=1)
    task, robot = env.task, env.robot
    worst = 0.0
    with torch.no_grad():
        for _ in range(150):
            action = (task.reference(task.phases(env.get_state(), step_offset=1)) / robot.cfg.action_scale)
            _, _, terminated, truncated, _ = env.step_differentiable(action.clamp(-1, 1))
            assert not terminated.any()
            _, g = task.base_frame(env.get_state())
            worst = max(worst, float(torch.arccos((-g[:, 2]).clamp(-1, 1)).max()))
    assert worst < math.radians(10)


def test_walk_terms_and_raibert_targets():
    env = gym.make_vec("DiffQuadruped-Walk-v0", num_envs=2, dtype=torch.float64).unwrapped
    env.reset(seed=0)
    task = env.task
    s = env.get_state()
    assert torch.all(s["command"][:, 0] == 1.0)
    phase = torch.tensor([[0.0, 0.25, 0.5, 0.75]], dtype=torch.float64).expand(2, -1)
    targets = task.placement_targets(s, phase)
    reach = 1.0 / (4 * task.cfg.gait.frequency)  # v T / 4
    dx = (targets - task.nominal_feet_xy)[..., 0]
    np.testing.assert_allclose(dx[0].numpy(), [reach, 0.0, -reach, 0.0], atol=1e-12)  # stance front->back, swing
    _, reward, _, _, info = env.step_differentiable(torch.zeros(2, 12, dtype=torch.float64))
    assert float(info["reward/velocity"].max()) == pytest.approx(-2.0, abs=0.05)  # standing still: error 1 m/s
    assert set(task.metric_names) <= set(info)


def test_engine_benchmark_quick(monkeypatch):
    import importlib.util
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
    monkeypatch.syspath_prepend(str(root))
    spec = importlib.util.spec_from_file_location("bench_quadruped", root / "bench_quadruped.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--quick"])
    assert rows[-1]["fwd ms/step"] > 0 and rows[-1]["grad s"] > 0


def test_kick_benchmark_runs_a_residual_policy_and_hard_kicks_topple_it(tmp_path, monkeypatch):
    """benchmarks/quadruped_kicks.py on a tiny sweep layout: a residual run over the committed
    trot anchor (barely trained, so it is the anchor) survives "kicks" that stop the base, and
    falls after kicks that throw it sideways at 4 m/s."""
    import importlib.util
    import pathlib

    from trainers import make_trainer

    root = pathlib.Path(__file__).parents[1]
    run = tmp_path / "runs" / "rpl" / "shac" / "DiffQuadruped-Walk-v0" / "s0"
    trainer = make_trainer("shac", env_id="DiffQuadruped-Walk-v0", num_envs=2, horizon=4, total_steps=8,
                           eval_every=0, eval_envs=2, critic_updates=1, log_dir=str(run), progress=False,
                           tensorboard=False, env_kwargs={"max_episode_steps": 100},  # > the 3 x 30 steps below
                           residual="quadruped-trot")
    trainer.learn()
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parents[1] / "benchmarks"))  # as when run from there
    spec = importlib.util.spec_from_file_location("quadruped_kicks", root / "benchmarks" / "quadruped_kicks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main([str(tmp_path), "--variant", "rpl", "--envs", "4", "--kicks", "2", "--period", "0.6",
                          "--speeds", "0", "4", "--out", str(tmp_path / "kicks")])
    survival = result["per_seed"][0]
    assert survival["0"] == 1.0 and survival["4"] < 0.5
    assert (tmp_path / "kicks.md").read_text().count("\n| ") == 2 + 3  # evaluation: header, row; kicks: header, 2 rows
    assert result["evaluation"][0]["eval_length"] == 100


def test_reference_rows_script_runs(tmp_path, monkeypatch):
    """benchmarks/quadruped_references.py (stand, open-loop trot, anchor alone; kicks of the anchor) runs."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "quadruped_references.py"
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parents[1] / "benchmarks"))  # as when run from there
    spec = importlib.util.spec_from_file_location("quadruped_references", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--anchor", "quadruped-trot",
                          "--seeds", "0", "--episodes", "2", "--max-episode-steps", "20", "--kick-speeds", "0",
                          "--kick-envs", "2", "--kicks", "1", "--kick-period", "0.2", "--out", str(tmp_path / "ref")])
    assert set(result["eval"]) == {"stand", "trot_reference", "anchor"}
    assert result["eval"]["anchor"][0]["eval_length"] == 20 and result["anchor_kick_survival"] == {"0": 1.0}
    assert (tmp_path / "ref.md").read_text().count("\n| ") == 4  # header and three rows


def _nav_with(quat, **primitives):
    """One float64 perceptive-navigation env, base attitude ``quat`` (w, x, y, z), in a
    hand-made world (ground included); returns the env and the camera position."""
    from diffenvs.worlds import ObstacleWorld

    env = gym.make_vec("DiffQuadruped-Nav-v0", num_envs=1, dtype=torch.float64).unwrapped
    env.reset(seed=0)
    state = {k: v.detach().clone() for k, v in env.get_state().items()}
    state["base_quat"][:] = torch.tensor(quat, dtype=torch.float64)
    cam, _ = env.task.camera_pose(state)
    world = ObstacleWorld.from_primitives(1, ground=True, dtype=torch.float64,
                                          **{k: [p(cam[0]) for p in v] for k, v in primitives.items()})
    state.update(world.padded(env.task.course.counts).to_state())
    env.set_state(state)
    return env, cam[0]


def test_nav_camera_turns_with_the_base_yaw():
    """A thin pole at a known bearing from the camera appears in the image column whose ray
    points there once the base is turned by a known yaw (and in no neighbouring column)."""
    yaw, column = 0.7, 3
    env, _ = _nav_with([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])
    cam_cfg = env.task.camera.cfg
    u = (column + 0.5 - cam_cfg.width / 2) / cam_cfg.focal
    bearing = yaw + math.atan(-u)  # the column's azimuth, turned by the yaw
    env, cam = _nav_with([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)],
                         cylinders=[lambda c: (float(c[0]) + 6 * math.cos(bearing), float(c[1]) + 6 * math.sin(bearing),
                                               0.15)])
    row = cam_cfg.height // 2 - 1  # just above the horizon
    depth = env.task.depth(env.get_state())[0, row]
    assert int(depth.argmin()) == column
    horizontal = float(depth[column]) * math.cos(math.atan(0.5 / cam_cfg.focal))
    assert horizontal == pytest.approx(6 - 0.15, abs=0.01)
    assert float(depth[column - 1]) == cam_cfg.max_range and float(depth[column + 1]) == cam_cfg.max_range


def test_nav_camera_pitches_with_the_base():
    """Pitch the base nose-down by the elevation of image row 4: a ball straight ahead at the
    camera's height moves from the horizon rows to row 4, centre columns."""
    env0, _ = _nav_with([1.0, 0.0, 0.0, 0.0])
    cam_cfg = env0.task.camera.cfg
    pitch = math.atan((cam_cfg.height / 2 - 4.5) / cam_cfg.focal)  # row 4's elevation above the axis
    ball = [lambda c: (float(c[0]) + 8.0, float(c[1]), float(c[2]), 0.9)]  # 6.5 deg in radius
    level, _ = _nav_with([1.0, 0.0, 0.0, 0.0], spheres=ball)
    tilted, _ = _nav_with([math.cos(pitch / 2), 0.0, math.sin(pitch / 2), 0.0], spheres=ball)
    mid = [cam_cfg.width // 2 - 1, cam_cfg.width // 2]
    d_level = level.task.depth(level.get_state())[0]
    d_tilted = tilted.task.depth(tilted.get_state())[0]
    sees_ball = lambda d: (d > 6.9) & (d < 7.6)  # noqa: E731  (the ball's near side: 7.1-7.4 m)
    assert bool(sees_ball(d_level[5, mid]).all()) and not bool(sees_ball(d_level[4, mid]).any())
    assert bool(sees_ball(d_tilted[4, mid]).all())
    assert not bool(sees_ball(d_tilted[[3, 5]][:, mid]).any())
    assert not bool(sees_ball(d_tilted[4, [mid[0] - 1, mid[1] + 1]]).any())


def test_residual_fusion_policy_over_the_blind_anchor_on_the_perceptive_task(tmp_path):
    """The paper's perceptive set-up (Fig. 2): the blind trot anchor reads the Dict
    observation's proprioceptive entry, the residual policy the anchor's action, the
    proprioception and the depth image through the fusion encoder; a residual starting near
    zero (two updates in) acts like the anchor."""

    from trainers import load_policy, make_trainer
    from trainers.core.networks import NetConfig

    anchor_path = "quadruped-trot"
    trainer = make_trainer("shac", env_id="DiffQuadruped-Nav-v0", num_envs=2, horizon=4, total_steps=8, eval_every=0,
                           eval_envs=2, critic_updates=1, log_dir=str(tmp_path), progress=False, tensorboard=False,
                           env_kwargs={"max_episode_steps": 10}, residual=anchor_path,
                           net=NetConfig(encoder="fusion", hidden=(128, 64), feature_dim=128))
    assert isinstance(trainer.actor.features, __import__("trainers").core.networks.FusionEncoder)
    trainer.learn()
    env = trainer.env
    anchor = load_policy(anchor_path, env.unwrapped)
    obs = env.obs
    assert torch.equal(obs["anchor_action"], anchor(env.unwrapped.obs))
    assert torch.equal(anchor(env.unwrapped.obs), anchor({"state": env.unwrapped.obs["state"]}))
    residual = trainer.policy(obs)  # the learned part; the env adds the anchor's action
    assert float(residual.abs().max()) < 0.1 < 0.5 < float(obs["anchor_action"].abs().max())


def test_named_anchor_is_the_committed_trot_policy():
    """``residual="quadruped-trot"`` loads the anchor shipped in the package (SHAC on the trot
    task, 2e5 steps, as its results folder records), and unknown names say which exist."""
    import json
    import pathlib

    from trainers import load_policy
    from trainers.anchors import anchor_path
    from trainers.core.checkpoint import load_checkpoint

    env = gym.make_vec("DiffQuadruped-Walk-v0", num_envs=3).unwrapped
    env.reset(seed=0)
    assert load_policy("quadruped-trot", env)(env.obs).shape == (3, 12)
    root = pathlib.Path(__file__).parents[1]
    state = load_checkpoint(anchor_path("quadruped-trot"))
    summary = json.loads((root / "benchmarks/results/quadruped_anchor_policy/summary.json").read_text())
    assert (state["algo"], state["config"]["env_id"], state["env_steps"]) == ("shac", summary["env"],
                                                                            summary["env_steps"])
    assert anchor_path("quadruped-trot").startswith(str(root / "trainers"))
    with pytest.raises(ValueError, match="named anchors: \\['quadruped-trot'\\]"):
        anchor_path("quadruped-walk")


def test_perceptive_evaluation_script_runs_seeing_and_blindfolded(tmp_path, monkeypatch):
    """benchmarks/quadruped_nav_eval.py on a tiny sweep layout: a residual SHAC run with the
    fusion policy over the committed trot anchor, seeing and blindfolded, and the references."""
    import importlib.util
    import pathlib

    from trainers import make_trainer

    root = pathlib.Path(__file__).parents[1]
    run = tmp_path / "runs" / "rpl" / "shac" / "DiffQuadruped-Nav-v0" / "s0"
    make_trainer("shac", env_id="DiffQuadruped-Nav-v0", num_envs=2, horizon=4, total_steps=8, eval_every=0,
                 eval_envs=2, critic_updates=1, log_dir=str(run), progress=False, tensorboard=False,
                 env_kwargs={"max_episode_steps": 10}, residual="quadruped-trot").learn()
    monkeypatch.syspath_prepend(str(root / "benchmarks"))  # as when run from there
    spec = importlib.util.spec_from_file_location("quadruped_nav_eval", root / "benchmarks" / "quadruped_nav_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main([str(tmp_path), "--runs", "shac/rpl", "--episodes", "2", "--max-episode-steps", "10",
                          "--seeds", "0", "--out", str(tmp_path / "final")])
    rows = result["rows"]
    assert set(rows) == {"shac rpl", "stand", "trot reference", "anchor alone"}
    learned = rows["shac rpl"]
    assert learned["seeing"]["episode_length"] == [10.0] and learned["blindfolded"]["episode_length"] == [10.0]
    assert 0 <= learned["seeing"]["collision_free"][0] <= 1 and learned["seeing"]["sideways"][0] >= 0
    assert rows["stand"]["blindfolded"] == {} and rows["stand"]["seeing"]["distance"][0] < 0.05
    assert (tmp_path / "final.md").read_text().count("\n| ") == 5  # header and four rows


def test_settled_pose_is_kept_between_processes_bit_for_bit(monkeypatch, tmp_path):
    """The settling simulation runs once per machine and options; its saved result is exactly what
    a fresh settle gives, and an unreadable file is settled again."""
    from diffenvs.robots.quadruped import robot as quadruped_robot

    monkeypatch.setenv("DIFFENVS_CACHE", str(tmp_path))
    monkeypatch.setattr(quadruped_robot, "_CACHE", {})
    env = gym.make_vec("DiffQuadruped-Walk-v0", num_envs=2, dtype=torch.float64).unwrapped
    robot = env.robot
    path = robot._settled_file()
    assert path.startswith(str(tmp_path)) and (tmp_path / "settled").exists()
    saved = quadruped_robot._load_settled(path)
    fresh = robot._settle()
    assert all(torch.equal(a, b) for a, b in zip(saved, fresh))
    with open(path, "wb") as fh:
        fh.write(b"not a checkpoint")
    assert quadruped_robot._load_settled(path) is None
    monkeypatch.setattr(quadruped_robot, "_CACHE", {})
    again = gym.make_vec("DiffQuadruped-Walk-v0", num_envs=2, dtype=torch.float64).unwrapped.robot._settled()
    assert all(torch.equal(a, b) for a, b in zip(again, fresh))
    other = gym.make_vec("DiffQuadruped-Walk-v0", num_envs=2, robot_options={"kp": 80.0}).unwrapped.robot
    assert other._settled_file() != path
