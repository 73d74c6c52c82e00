"""Command-line value types shared by ``mlplan plan/review`` and ``promote/rollback``."""

from __future__ import annotations

import argparse
import re

STACK_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


def stack_flag(text: str) -> str:
    """``--stack NAME``: a Pulumi stack name (letters, digits, ``-``, ``_``, ``.``; 1-100
    characters, not starting with ``.``), so it cannot be empty or name a path."""
    if not STACK_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text[:80]!r} is not a stack name; use letters, digits, '-', '_' and '.', "
            "e.g. --stack dev")
    return text
