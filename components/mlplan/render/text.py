"""Plan -> text for a terminal: a table per endpoint, the quota table, a one-line summary."""

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


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ",
          right: frozenset[str] = RIGHT_ALIGNED) -> list[str]:
    """Columns padded to their widest cell; the columns named in ``right`` right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = []
    for row in (tuple(h.upper() for h in headers), *rows):
        cells = [cell.rjust(w) if headers[i] in right else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def render_plan(document: dict[str, Any]) -> str:
    """The plan; "" when errors left nothing to plan (the errors go to stderr)."""
    if nothing_planned(document):
        return ""
    document = safe.for_text(document)
    head = ["mlplan plan"]
    if document["stack"]:
        head.append(f"stack {document['stack']}")
    head.append(f"target {document['target']}")
    head.append(f"environment {document['environment']}")
    out = [" · ".join(head), ""]
    for endpoint in document["endpoints"]:
        out.append(f"+ endpoint {endpoint['name']}  ({endpoint['kind']}, "
                   f"auth {endpoint['auth_mode']}, {endpoint['source']})")
        if endpoint["deployments"]:
            out.extend(table(DEPLOYMENT_HEADERS, deployment_rows(endpoint)))
        else:
            out.append("  no deployments")
        out.append(f"  traffic: {split_text(endpoint['traffic'])}")
        if endpoint["mirror_traffic"]:
            out.append(f"  mirror:  {split_text(endpoint['mirror_traffic'])}")
        out.append("")
    out.append("quota (cores reserved: ceil(1.2 x instances) x cores; "
               "exempt SKUs: instances x cores)")
    out.extend(table(QUOTA_HEADERS, quota_rows(document)))
    out.append("")
    out.append(f"Plan: {summary_line(document)}.")
    return "\n".join(out) + "\n"


def render_diagnostics(document: dict[str, Any]) -> str:
    """One line per diagnostic: ``path: severity CODE: message``."""
    document = safe.for_text(document)
    return "".join(f"{d['path']}: {d['severity']} {d['code']}: {d['message']}\n"
                   for d in document["diagnostics"])
