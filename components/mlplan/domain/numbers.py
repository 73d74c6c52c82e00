"""One parser for numbers read from user files and flags: whole numbers and finite numbers.

YAML and JSON hand over ``true`` (a bool, which Python counts as 1), ``.inf``, ``.nan`` and
``1e400`` (read as infinity); none of them is a count or a core quota. The rules:

- a whole number is an ``int`` (not a bool) between ``-MAX_WHOLE`` and ``MAX_WHOLE`` (10**9);
  ``3`` -> 3, ``true`` -> refused, ``10**12`` -> refused;
- a number is an ``int`` or ``float`` (not a bool), finite, at most ``MAX_NUMBER`` (10**9) in
  size; text (flags) is read with ``float()``: ``"48"`` -> 48.0, ``"1e400"``/``"inf"``/``"nan"``
  -> refused.

Each refusal is a ``NumberError`` whose text says what is wrong and what to write instead; the
pydantic types (``WholeNumber``, ``FiniteNumber``) turn it into a validation error with type
``mlplan_value`` that ``validation.describe`` prints as is.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

MAX_WHOLE = 10**9
MAX_NUMBER = 1e9


class NumberError(ValueError):
    pass


def whole(value: Any) -> Any:
    """``value`` if it is a whole number in range; other types are left to the field's own
    type check (so ``"three"`` still reads "expected a whole number")."""
    if isinstance(value, bool):
        raise NumberError(f"{'true' if value else 'false'} is not a number; write a whole "
                          "number such as 1")
    if isinstance(value, int) and abs(value) > MAX_WHOLE:
        raise NumberError(f"{_short(value)} is too large; the most is {MAX_WHOLE:,}")
    if isinstance(value, float) and not math.isfinite(value):
        raise NumberError(f"{value!r} is not a whole number; write e.g. 3")
    return value


def finite(value: Any) -> Any:
    """``value`` if it is a finite number in range (ints and floats; not bools)."""
    if isinstance(value, bool):
        raise NumberError(f"{'true' if value else 'false'} is not a number; write e.g. 48")
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            raise NumberError("nan is not a number; write e.g. 48")
        if isinstance(value, float) and math.isinf(value):
            raise NumberError("an infinite number (.inf, or a literal such as 1e400 that is "
                              f"too large to hold) is not allowed; the most is {MAX_NUMBER:g}")
        if abs(value) > MAX_NUMBER:
            raise NumberError(f"{_short(value)} is too large; the most is {MAX_NUMBER:g}")
    return value


def parse_number(text: str) -> float:
    """A finite number from a flag's text: ``"2.5"`` -> 2.5; ``"1e400"`` -> ``NumberError``."""
    try:
        value = float(text)
    except ValueError:
        raise NumberError(f"'{text[:40]}' is not a number; write e.g. 48") from None
    return float(finite(value))


def _short(value: int | float) -> str:
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return shown if len(shown) <= 24 else f"a number of {len(shown)} digits"


def _adapter(check: Any) -> Any:
    def validate(value: Any) -> Any:
        try:
            return check(value)
        except NumberError as exc:
            raise PydanticCustomError("mlplan_value", "{message}",
                                      {"message": str(exc)}) from None
    return validate


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise NumberError(f"{'true' if value else 'false'} is not a number; write a number "
                          "such as 3")
    return value


#: pydantic field types, e.g. ``Annotated[WholeNumber, Field(ge=1)]``: before the type's own
#: parsing a bool is refused; after it (so ``"1e400"`` as text is caught too) the range.
WholeNumber = Annotated[int, BeforeValidator(_adapter(_no_bool)), AfterValidator(_adapter(whole))]
FiniteNumber = Annotated[float, BeforeValidator(_adapter(_no_bool)),
                         AfterValidator(_adapter(finite))]
