"""Shared test options: ``--update-goldens`` rewrites golden files instead of comparing."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true",
                     help="rewrite tests/**/golden files from the current output")


@pytest.fixture
def golden(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """``golden(name, text)``: compare with ``tests/render/golden/<name>``, or rewrite it."""
    update = request.config.getoption("--update-goldens")

    def check(name: str, text: str) -> None:
        path = REPO / "tests" / "render" / "golden" / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"missing golden {path}; run pytest --update-goldens"
        assert text == path.read_text(encoding="utf-8"), (
            f"{name} differs from its golden; if the change is intended, run "
            "pytest --update-goldens and review the diff")

    return check
