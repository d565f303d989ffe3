"""`python -m recent_calls` runs the CLI."""

from .cli import main

main()
