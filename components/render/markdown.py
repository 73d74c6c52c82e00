"""Plan -> Markdown for a pull-request comment: summary first, a table per endpoint, quota,
diagnostics by severity. No secrets ever reach the document this reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.render.tables import (
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


def escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]],
          right: frozenset[str] = RIGHT_ALIGNED) -> list[str]:
    """A Markdown table; the columns named in ``right`` right-aligned, ``|`` escaped."""
    align = ["---:" if h in right else "---" for h in headers]
    lines = ["| " + " | ".join(headers) + " |",
             "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return lines


def render_plan(document: dict[str, Any]) -> str:
    stack = f" `{document['stack']}`" if document["stack"] else ""
    out = [f"### mlplan plan{stack} ({document['target']}, {document['environment']})", "",
           f"**{summary_line(document)}**", ""]
    if nothing_planned(document):  # only the errors: no empty quota table
        errors = document["summary"]["errors"]
        out = [f"### mlplan plan{stack}", "",
               f"**No plan: {errors} error{'' if errors == 1 else 's'}.**"]
    for endpoint in document["endpoints"]:
        out.append(f"#### `+` endpoint `{endpoint['name']}` ({endpoint['kind']}, auth "
                   f"{endpoint['auth_mode']})")
        out.append("")
        if endpoint["deployments"]:
            out.extend(table(DEPLOYMENT_HEADERS, deployment_rows(endpoint)))
            out.append("")
        out.append(f"Traffic: {split_text(endpoint['traffic'])}"
                   + (f"; mirror: {split_text(endpoint['mirror_traffic'])}"
                      if endpoint["mirror_traffic"] else ""))
        out.append("")
    if not nothing_planned(document):
        out.append("#### Quota")
        out.append("")
        out.extend(table(QUOTA_HEADERS, quota_rows(document)))
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
                out.extend(f"- `{d['code']}` `{escape(d['path'])}`: {escape(d['message'])}"
                           for d in chosen)
                out.append("")
                out.append("</details>")
    return "\n".join(out) + "\n"
