"""`python -m recent_calls` runs the CLI."""

from recent_calls.cli.main import main

if __name__ == "__main__":  # import workers re-import this module; they must not run the CLI
    main()
