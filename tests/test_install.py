"""One consistent set of pins for ``pip install -e .`` and ``pip install -e '.[test]'``
(issue 17, item 3): the test extra must never move a package the plain install put there.

Read from the installed metadata of this virtualenv (no network): every package of the runtime
closure that a package of the [test] closure constrains (``~=2.12.0``, ``<=1.16.0``,
``==1.33.0``) must be pinned exactly in ``pyproject.toml`` and its pin must satisfy that
constraint; otherwise the plain install takes the newest release and the test extra downgrades
it (the pydantic-core swap that made a running ``mlplan`` fail with "internal error"). Also:
the license is an SPDX string and the build backend is new enough to take it quietly.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
BUILD = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]


def _applies(req: Requirement, extra: str = "") -> bool:
    return req.marker is None or req.marker.evaluate({**default_environment(), "extra": extra})


def closure(roots: list[str]) -> dict[str, list[tuple[str, Requirement]]]:
    """Installed packages reachable from ``roots``: name -> (requirer, requirement) pairs
    (requirer ``""`` for a root)."""
    seen: dict[str, list[tuple[str, Requirement]]] = {}
    todo = [("", Requirement(r)) for r in roots]
    while todo:
        requirer, req = todo.pop()
        name = canonicalize_name(req.name)
        first = name not in seen
        seen.setdefault(name, []).append((requirer, req))
        if not first:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue
        extras = sorted(req.extras) or [""]
        for text in dist.requires or ():
            sub = Requirement(text)
            if any(_applies(sub, extra) for extra in extras):
                todo.append((name, sub))
    return seen


def _constrains(req: Requirement) -> bool:
    """True for a requirement that can exclude today's releases: a pin (``==1.33.0``), an
    upper bound inside a major version (``<=1.16.0``, ``<8.7.0``, ``~=5.29.5``). A cap at the
    next major (``<4``, ``<2.0.0``, ``~=1.71``) excludes only releases still to come."""
    for spec in req.specifier:
        release = Version(spec.version.rstrip(".*")).release if spec.version[0].isdigit() else ()
        if spec.operator in ("==", "===", "<="):
            return True
        if spec.operator == "~=" and len(release) >= 3:
            return True
        if spec.operator == "<" and any(release[1:]):
            return True
    return False


def test_the_test_extra_never_moves_what_the_plain_install_put_there() -> None:
    pins = {canonicalize_name(Requirement(r).name): Requirement(r)
            for r in PROJECT["dependencies"]}
    runtime = closure(PROJECT["dependencies"])
    test = closure(PROJECT["optional-dependencies"]["test"])
    problems = []
    for name, reqs in sorted(test.items()):
        if name not in runtime:
            continue
        # what only the test extra's own packages ask of a package the plain install has
        narrowing = [r for requirer, r in reqs if requirer and requirer not in runtime
                     and _constrains(r)]
        if not narrowing:
            continue
        pin = pins.get(name)
        exact = [s for s in (pin.specifier if pin else ()) if s.operator == "=="]
        if not exact:
            problems.append(f"{name}: the test extra requires {', '.join(map(str, narrowing))}"
                            f"; pin it exactly in [project] dependencies")
            continue
        version = Version(exact[0].version)
        bad = [str(r) for r in narrowing if not r.specifier.contains(version, prereleases=True)]
        if bad:
            problems.append(f"{name}: pinned {version}, but the test extra requires {bad}")
    assert problems == []


def test_the_pins_are_what_is_installed() -> None:
    for text in PROJECT["dependencies"]:
        req = Requirement(text)
        installed = metadata.version(req.name)
        assert req.specifier.contains(installed, prereleases=True), (req, installed)


def test_license_is_an_spdx_string_for_a_backend_that_takes_it_quietly() -> None:
    assert PROJECT["license"] == "MIT"
    (setuptools,) = [Requirement(r) for r in BUILD["requires"] if r.startswith("setuptools")]
    assert setuptools.specifier.contains("77.0.0") and not setuptools.specifier.contains("76.0")
