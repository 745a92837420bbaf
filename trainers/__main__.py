"""``python -m trainers`` = ``diffenvs-train``."""

from .cli import main

main()
