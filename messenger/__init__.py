"""Messenger: end-to-end encrypted two-person messaging over a relay that cannot read it."""

__version__ = "0.1.0"
