"""Plan -> Markdown for a pull-request comment: summary first, a table per endpoint, quota,
diagnostics by severity. No secrets ever reach the document this reads.

Every value is made inert for GitHub's renderer (``render.safe``): prose through ``escape``
(``md_text``), names through ``code`` (``md_code``), cells through ``md_cell``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlplan.render import safe
from mlplan.render.tables import (
    DEPLOYMENT_HEADERS,
    QUOTA_HEADERS,
    RIGHT_ALIGNED,
    deployment_rows,
    nothing_planned,
    quota_rows,
    split_text,
    summary_line,
)

_SEVERITY_ORDER = ("error", "warning", "info")


def escape(text: str) -> str:
    """Prose from the document, inert on GitHub (``safe.md_text``)."""
    return safe.md_text(text)


def code(text: str) -> str:
    """A value shown as code, inert on GitHub (``safe.md_code``); empty -> ``""``."""
    return safe.md_code(text)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]],
          right: frozenset[str] = RIGHT_ALIGNED) -> list[str]:
    """A Markdown table of cells already in Markdown (``escape``/``code``d); the columns named
    in ``right`` right-aligned, ``|`` escaped for the table."""
    align = ["---:" if h in right else "---" for h in headers]
    lines = ["| " + " | ".join(headers) + " |",
             "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(safe.md_cell(c) for c in row) + " |" for row in rows]
    return lines


def prose_rows(rows: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    return [tuple(escape(c) for c in row) for row in rows]


def render_plan(document: dict[str, Any]) -> str:
    document = safe.for_markdown(document)
    stack = f" {code(document['stack'])}" if document["stack"] else ""
    out = [f"### mlplan plan{stack} ({escape(document['target'])}, "
           f"{escape(document['environment'])})", "",
           f"**{escape(summary_line(document))}**", ""]
    if nothing_planned(document):  # only the errors: no empty quota table
        errors = document["summary"]["errors"]
        out = [f"### mlplan plan{stack}", "",
               f"**No plan: {errors} error{'' if errors == 1 else 's'}.**"]
    for endpoint in document["endpoints"]:
        out.append(f"#### `+` endpoint {code(endpoint['name'])} ({escape(endpoint['kind'])}, "
                   f"auth {escape(endpoint['auth_mode'])})")
        out.append("")
        if endpoint["deployments"]:
            out.extend(table(DEPLOYMENT_HEADERS, prose_rows(deployment_rows(endpoint))))
            out.append("")
        out.append(f"Traffic: {escape(split_text(endpoint['traffic']))}"
                   + (f"; mirror: {escape(split_text(endpoint['mirror_traffic']))}"
                      if endpoint["mirror_traffic"] else ""))
        out.append("")
    if not nothing_planned(document):
        out.append("#### Quota")
        out.append("")
        out.extend(table(QUOTA_HEADERS, prose_rows(quota_rows(document))))
        out.append("")
        out.append("Reserved cores per deployment: `ceil(1.2 x instances) x cores`; exempt "
                   "SKUs `instances x cores`.")
    diagnostics = document["diagnostics"]
    if diagnostics:
        out.append("")
        out.append("#### Diagnostics")
        for severity in _SEVERITY_ORDER:
            chosen = [d for d in diagnostics if d["severity"] == severity]
            if chosen:
                out.append("")
                out.append(f"<details{' open' if severity == 'error' else ''}><summary>"
                           f"{len(chosen)} {severity}{'s' if len(chosen) != 1 else ''}"
                           "</summary>")
                out.append("")
                out.extend(f"- {code(d['code'])} {code(d['path'])}: {escape(d['message'])}"
                           for d in chosen)
                out.append("")
                out.append("</details>")
    return "\n".join(out) + "\n"
