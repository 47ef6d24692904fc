"""Kept for importers of the old location: signal parsing is the API's (container.signals)."""

from pyrunc.container.signals import parse_signal

__all__ = ["parse_signal"]
