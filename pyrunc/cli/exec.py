"""Subcommands: exec (issue 5)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Nothing registered yet."""
