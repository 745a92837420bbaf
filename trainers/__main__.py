"""``python -m trainers`` = ``diffenvs-train``."""

import sys

from .cli import console

sys.exit(console())
