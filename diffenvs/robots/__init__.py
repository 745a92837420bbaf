"""Robots: one folder each (robot model, tasks, controller, drawer, registration table ``ENVS``).

Adding a robot is one folder plus one line here.
"""

#: Robot folders whose ``ENVS`` tables ``import diffenvs`` registers.
ROBOTS = (
    "quadrotor",
    "pointmass",
    "unicycle",
    "quadruped",
)
