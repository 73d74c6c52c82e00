"""One "are we in CI?" rule for every suite that skips on a developer's machine but must fail in
CI (``tests/lib/ci.py``): only unset, empty or an explicit no is off."""

from __future__ import annotations

import pytest

from tests.lib.ci import in_ci


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False), ("", False), ("  ", False), ("0", False), ("false", False),
        ("False", False), (" no ", False), ("OFF", False),
        ("true", True), ("1", True), ("yes", True), ("TRUE", True), ("woodpecker", True),
    ],
    ids=["unset", "empty", "blank", "zero", "false", "False", "no-spaced", "OFF",
         "true", "one", "yes", "TRUE", "provider-value"],
)
def test_ci_is_on_unless_unset_empty_or_an_explicit_no(
        monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert in_ci() is expected
