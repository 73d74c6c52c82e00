"""Kubernetes resource quantities as integers: CPU in millicores, memory in MiB.

Rules (Kubernetes' own): CPU ``"2"`` = 2000m, ``"0.1"`` = 100m, ``"250m"`` = 250m; fractions of a
millicore round up. Memory suffixes Ki Mi Gi Ti are powers of 1024, K M G T powers of 1000, a bare
number is bytes; the result rounds up to whole MiB. Example: ``"1G"`` = 10^9 bytes = 953.67 MiB
-> 954 MiB; ``"2Gi"`` -> 2048 MiB.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_MEMORY_FACTORS = {
    "": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
}
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*\Z")


MAX_QUANTITY = Decimal(10) ** 18


class QuantityError(ValueError):
    pass


def _split(text: str | int | float) -> tuple[Decimal, str]:
    if isinstance(text, bool):
        raise QuantityError(f"{text!r} is not a quantity")
    match = _QUANTITY.match(str(text))
    if not match:
        raise QuantityError(f"{text!r} is not a quantity")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise QuantityError(f"{text!r} is not a quantity") from exc
    if number > MAX_QUANTITY:  # 1e99999999 would take minutes to round to an int
        raise QuantityError(f"{str(text)[:40]!r} is too large a quantity")
    return number, match.group(2)


def cpu_millis(text: str | int | float) -> int:
    """``"500m"`` -> 500, ``2`` -> 2000, ``"0.25"`` -> 250."""
    number, suffix = _split(text)
    if suffix == "m":
        return math.ceil(number)
    if suffix:
        raise QuantityError(f"{text!r}: CPU takes a number of cores (2, 0.5) or millicores (500m)")
    return math.ceil(number * 1000)


def memory_mib(text: str | int | float) -> int:
    """``"2Gi"`` -> 2048, ``"512Mi"`` -> 512, ``"1G"`` -> 954 (rounded up)."""
    number, suffix = _split(text)
    if suffix not in _MEMORY_FACTORS:
        raise QuantityError(f"{text!r}: memory takes a suffix Ki, Mi, Gi, Ti (or K, M, G, T)")
    return math.ceil(number * _MEMORY_FACTORS[suffix] / 2**20)


def cores(millis: int) -> int | float:
    """Cores as a JSON number: 48000 -> 48, 2500 -> 2.5, 1 -> 0.001 (millicores are exact)."""
    return millis // 1000 if millis % 1000 == 0 else round(millis / 1000, 3)


def format_millis(millis: int) -> str:
    """Cores for people: 48000 -> ``48``, 2500 -> ``2.5``, 100 -> ``0.1``."""
    whole, rest = divmod(millis, 1000)
    return str(whole) if not rest else f"{millis / 1000:g}"
