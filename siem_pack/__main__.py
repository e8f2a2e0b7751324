"""`python -m siem_pack` runs the CLI."""

from .cli import main

main()
