"""The `recent-calls` command and the processes it runs."""
