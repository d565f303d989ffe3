"""recent-calls: a self-hosted implementation of the contact-center Recent Calls API."""

__version__ = "0.7.9"
