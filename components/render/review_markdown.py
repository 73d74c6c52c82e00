"""Review -> Markdown for a pull-request comment.

Layout: one summary line per stack first (``**`dev`** 1 endpoint: 0 to create, 1 to update,
0 to delete; quota 28 -> 60 of 100 cores``), the legend of action symbols, then per stack a
table per endpoint, collapsible ``<details>`` with field changes and batch schedules, stack
settings, quota before -> after, and diagnostics by severity (the base's marked as such).
Deterministic; no secrets reach the document it reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.render import markdown, safe
from components.render import review_tables as t
from components.render.markdown import code, escape

_ALIGN_RIGHT = t.RIGHT_ALIGNED


def table(headers: Sequence[str], rows: Sequence[Sequence[str]],
          right: frozenset[str] = _ALIGN_RIGHT) -> list[str]:
    """The plan's Markdown table with the review's number columns right-aligned."""
    return markdown.table(headers, rows, right)


def _details(summary: str, body: list[str], open_: bool = False) -> list[str]:
    return [f"<details{' open' if open_ else ''}><summary>{summary}</summary>", "", *body, "",
            "</details>", ""]


def _field_table(changes: list[dict[str, Any]]) -> list[str]:
    rows = [(code(c["path"]), code(t.value(c["before"])), code(t.value(c["after"])),
             escape(f"{c['effect']}: {c['why']}")) for c in changes]
    return table(t.FIELD_HEADERS, rows, right=frozenset())


def _steps(dep: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for number, step in enumerate(dep.get("steps") or (), start=1):
        out.append(f"{number}. {escape(t.step_text(step))}")
        for batch in step.get("batches") or ():
            names = ", ".join(code(i["name"]) for i in batch["instances"])
            verbs = {" then ".join(i["actions"]) for i in batch["instances"]}
            out.append(f"   - batch {escape(str(batch['batch']))}: {names} "
                       f"({escape(', '.join(sorted(verbs)))})")
    return out


def _resources(resources: list[dict[str, Any]]) -> list[str]:
    rows = [(code(t.symbol(r["actions"]).strip()), code(r["name"]), escape(r["type"]),
             escape(t.action(r["actions"]).value), escape("; ".join(r.get("reasons") or ())))
            for r in resources]
    return table(t.RESOURCE_HEADERS, rows)


def _deployment_details(endpoint: str, dep: dict[str, Any]) -> list[str]:
    parts = [t.action(dep["actions"]).value]
    if dep.get("changes"):
        parts.append(t.plural(len(dep["changes"]), "field change"))
    batches = sum(len(s.get("batches") or ()) for s in dep.get("steps") or ())
    if batches:
        parts.append(t.plural(batches, "batch", "batches"))
    body = [f"- {escape(r)}" for r in dep.get("reasons") or ()]
    if body:
        body.append("")
    if dep.get("changes"):
        body += [*_field_table(dep["changes"]), ""]
    steps = _steps(dep)
    if steps:
        body += ["Order of work:", "", *steps, ""]
    if dep.get("resources"):
        body += [*_resources(dep["resources"]), ""]
    summary = (f"<code>{safe.html(endpoint)}/{safe.html(t.deployment_name(dep))}</code>: "
               f"{safe.html(', '.join(parts))}")
    return _details(summary, body[:-1] if body and body[-1] == "" else body)


def _endpoint(endpoint: dict[str, Any]) -> list[str]:
    verbs = endpoint["actions"]
    renamed = f" (was {code(endpoint['renamed_from'])})" if endpoint.get("renamed_from") else ""
    out = [f"#### `{t.symbol(verbs).strip() or '='}` endpoint {code(endpoint['name'])}{renamed}: "
           f"{escape(t.action(verbs).value)}", ""]
    line = t.traffic_line(endpoint)
    if line:
        out += [f"Traffic: {escape(line)}", ""]
    reasons = [f"- {escape(r)}" for r in endpoint.get("reasons") or ()]
    if reasons:
        out += [*reasons, ""]
    if endpoint["deployments"]:
        rows = [(code(r[0]), *map(escape, r[1:]))
                for r in map(t.deployment_row, endpoint["deployments"])]
        out += [*table(t.DEPLOYMENT_HEADERS, rows), ""]
    if endpoint.get("changes"):
        out += _details(f"<code>{safe.html(endpoint['name'])}</code>: "
                        f"{t.plural(len(endpoint['changes']), 'field change')}",
                        _field_table(endpoint["changes"]))
    if endpoint.get("resources"):
        out += _details(f"<code>{safe.html(endpoint['name'])}</code>: "
                        f"{t.plural(len(endpoint['resources']), 'endpoint resource')}",
                        _resources(endpoint["resources"]))
    for dep in endpoint["deployments"]:
        if dep["actions"] != ["no-op"] and t.has_details(dep):
            out += _deployment_details(endpoint["name"], dep)
    return out


def _diagnostics(stack: dict[str, Any], base: str) -> list[str]:
    diagnostics = stack["diagnostics"]
    if not diagnostics:
        return []
    out = ["#### Diagnostics", ""]
    for side, label in (("head", ""), ("base", f"base ({safe.html(base)}): ")):
        for severity, chosen in t.by_severity(diagnostics, side):
            lines = [f"- {code(d['code'])} {code(d['path'])}: {escape(d['message'])}"
                     for d in chosen]
            summary = f"{label}{t.plural(len(chosen), severity)}"
            out += _details(summary, lines, open_=side == "head" and severity == "error")
    return out


def _stack(stack: dict[str, Any], base: str) -> list[str]:
    out = [f"### Stack {code(stack['stack'])}", ""]
    sides = t.sides_line(stack)
    counted = t.diagnostics_line(stack, strong="**")
    out += [f"{sides} · {counted}" if sides else counted, ""]
    if not stack["summary"]["changes"]:
        out += ["No changes.", ""]
    for endpoint in stack["endpoints"]:
        if endpoint["actions"] != ["no-op"]:
            out += _endpoint(endpoint)
    unchanged = [e["name"] for e in stack["endpoints"] if e["actions"] == ["no-op"]]
    if unchanged:
        out += [f"Unchanged: {', '.join(code(n) for n in unchanged)}", ""]
    if stack.get("other_resources"):
        out += ["#### Other resources", "", *_resources(stack["other_resources"]), ""]
    if stack.get("settings_changes"):
        out += ["#### Stack settings", "", *_field_table(stack["settings_changes"]), ""]
    rows = t.quota_rows(stack)
    if rows:
        out += ["#### Quota", "", *table(t.QUOTA_HEADERS, markdown.prose_rows(rows)), "",
                "Reserved cores: `ceil(1.2 x instances) x cores` (exempt SKUs "
                "`instances x cores`). Peak: deletes run last, so removed and renamed "
                "deployments hold their cores while new ones start.", ""]
    out += _diagnostics(stack, base)
    return out


def render_review(document: dict[str, Any]) -> str:
    document = safe.for_markdown(document)
    stacks = document["stacks"]
    out: list[str] = []
    for stack in stacks:
        out += [f"**{code(stack['stack'])}** {escape(t.summary_line(stack))}", ""]
    if not stacks:
        out += ["**No stacks to review.**", ""]
    out += [f"mlplan review: {code(document['base'])} -> {escape(document['head'])}", "",
            f"<sub>{t.legend()}</sub>", ""]
    for stack in stacks:
        out += _stack(stack, document["base"])
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"
