"""One rule for "are we in CI?", used wherever a suite that cannot run is skipped on a
developer's machine but must fail in CI (``tests/run`` sets ``CI=true`` unless it is set).

Rule: CI is on unless the variable is unset, empty or an explicit no (``0``, ``false``, ``no``,
``off``, any case, surrounding spaces ignored); any other value (``true``, ``1``, ``yes``, a CI
provider's own value such as ``woodpecker``) is on, so an unfamiliar value fails rather than
skips. Examples: ``CI=true`` -> on; ``CI=False`` -> off; ``CI=`` -> off.
"""

from __future__ import annotations

import os

OFF = frozenset({"", "0", "false", "no", "off"})


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in OFF
