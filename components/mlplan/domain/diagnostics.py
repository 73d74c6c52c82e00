"""Diagnostics are values: severity, stable code, where, what is wrong and how to fix it.

Codes are stable and grouped: MLP1xx spec, MLP2xx traffic, MLP3xx rollout, MLP4xx quota,
MLP5xx policy. The same code appears in the CLI, in Pulumi errors and in policy messages.
A location reads like an editor jump target: ``stacks/endpoints/blue.yml:12 instance_count``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Severity(enum.IntEnum):
    """Ordered so that ``max(severities)`` is the worst one."""

    INFO = 0
    WARNING = 1
    ERROR = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, order=True)
class Location:
    """Where a finding points: a file, a 1-based line (0 if unknown) and a dotted field path."""

    file: str = ""
    line: int = 0
    field: str = ""

    def __str__(self) -> str:
        where = self.file
        if where and self.line:
            where = f"{where}:{self.line}"
        if self.field:
            where = f"{where} {self.field}" if where else self.field
        return where or "<input>"


@dataclass(frozen=True)
class Diagnostic:
    """One finding. ``message`` says what is wrong and how to fix it, in one or two sentences."""

    severity: Severity
    code: str
    location: Location
    message: str

    @property
    def path(self) -> str:
        return str(self.location)

    def __str__(self) -> str:
        return f"{self.path}: {self.severity} {self.code}: {self.message}"


def error(code: str, location: Location, message: str) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, location, message)


def warning(code: str, location: Location, message: str) -> Diagnostic:
    return Diagnostic(Severity.WARNING, code, location, message)


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Deterministic order: by file, line, field, then code and message."""
    return sorted(
        set(diagnostics),
        key=lambda d: (d.location.file, d.location.line, d.location.field, d.code, d.message),
    )


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)
