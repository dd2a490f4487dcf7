"""The one argparse type for a number of days (``--days``, ``--warn-days``): finite and in range.

``float("1e400")`` is infinity and ``float("nan")`` is not a number; both parse, and both
would reach ``timedelta`` as a traceback. argparse turns the refusal into a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import math

#: A hundred years: more than any real certificate or CRL, far below what timedelta overflows at.
MAX_DAYS = 36500


def days_type(option: str, *, allow_zero: bool = False):
    """An argparse ``type=`` for ``option``: a finite number of days, > 0 (or >= 0), <= MAX_DAYS."""

    def parse(text: str) -> float:
        try:
            days = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
        if not math.isfinite(days):
            raise argparse.ArgumentTypeError(f"{option} must be a finite number, not {text!r}")
        if days < 0 or (days == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(
                f"{option} must be {'0 or more' if allow_zero else 'greater than 0'}"
            )
        if days > MAX_DAYS:
            raise argparse.ArgumentTypeError(f"{option} must be at most {MAX_DAYS} (100 years)")
        return days

    return parse
