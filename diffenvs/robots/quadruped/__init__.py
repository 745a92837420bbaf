"""The ANYmal C quadruped on the :mod:`diffenvs.articulated` engine (the residual paper's
legged robot, §III). The model file ``assets/anymal_c.xml`` is vendored from MuJoCo
Menagerie with its BSD-3-Clause licence (``assets/LICENSE``)."""

from __future__ import annotations

import os

#: The vendored ANYmal C model (MJCF; dynamics only: no meshes).
ANYMAL_C_XML = os.path.join(os.path.dirname(__file__), "assets", "anymal_c.xml")

__all__ = ["ANYMAL_C_XML"]
