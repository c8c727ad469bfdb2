"""``lnic bench`` sub-command (placeholder until the harness lands)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``lnic bench``."""


def run(args: argparse.Namespace) -> int:
    """Run ``lnic bench``; returns the exit code."""
    raise SystemExit("lnic bench: not implemented yet")
