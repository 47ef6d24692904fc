"""Subcommands: update, pause, resume, ps, events (issue 4)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Nothing registered yet."""
