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

from mlplan.render import markdown, safe
from mlplan.render import review_tables as t
from mlplan.render.markdown import code, escape

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
           f"{escape(t.endpoint_action_text(endpoint))}", ""]
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


def _diagnostics(stack: dict[str, Any], base: str, limit: int | None = None) -> list[str]:
    """Diagnostics by side and severity; with ``limit``, at most that many lines per group and
    a line saying how many more there are."""
    diagnostics = stack["diagnostics"]
    if not diagnostics:
        return []
    out = ["#### Diagnostics", ""]
    for side, label in (("head", ""), ("base", f"base ({safe.html(base)}): ")):
        for severity, chosen in t.by_severity(diagnostics, side):
            lines = [f"- {code(d['code'])} {code(d['path'])}: {escape(d['message'])}"
                     for d in chosen[:limit]]
            if limit is not None and len(chosen) > limit:
                lines.append(f"- ... {len(chosen) - limit} more {severity}s not shown here "
                             f"({CUT_HOW})")
            summary = f"{label}{t.plural(len(chosen), severity)}"
            out += _details(summary, lines, open_=side == "head" and severity == "error")
    return out


Shown = set[tuple[str, str]]  # (stack, endpoint) whose details are in the comment


def _stack(stack: dict[str, Any], base: str, shown: Shown | None = None,
           diagnostics_limit: int | None = None) -> list[str]:
    """One stack's section; ``shown``: the changed endpoints whose details fit (None: all),
    the others are counted in a line saying where the full review is."""
    out = [f"### Stack {code(stack['stack'])}", ""]
    sides = t.sides_line(stack)
    counted = t.diagnostics_line(stack, strong="**")
    out += [f"{sides} · {counted}" if sides else counted, ""]
    if not stack["summary"]["changes"]:
        out += ["No changes.", ""]
    changed = [e for e in stack["endpoints"] if e["changed"]]
    for endpoint in changed:
        if shown is None or (stack["stack"], endpoint["name"]) in shown:
            out += _endpoint(endpoint)
    left_out = [e["name"] for e in changed
                if shown is not None and (stack["stack"], e["name"]) not in shown]
    if left_out:
        out += [f"**{t.plural(len(left_out), 'changed endpoint')} not shown here** to fit one "
                f"comment (`--max-chars`): {_names(left_out)}. {CUT_HOW[0].upper()}"
                f"{CUT_HOW[1:]}.", ""]
    line = t.unchanged_line(stack)
    if line:
        out += [line[0].upper() + line[1:], ""]
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
    out += _diagnostics(stack, base, diagnostics_limit)
    return out


def _names(names: list[str], most: int = 5) -> str:
    shown = ", ".join(code(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


#: GitHub refuses comments over 65,536 characters.
DEFAULT_MAX_CHARS = 65536
CUT_HOW = ("the full review: the same `mlplan review` with `--format json`, or with "
           "`--max-chars 0` for all of the Markdown")


def _render(document: dict[str, Any], shown: Shown | None = None,
            diagnostics_limit: int | None = None) -> str:
    stacks = document["stacks"]
    out: list[str] = []
    for stack in stacks:
        out += [f"**{code(stack['stack'])}** {escape(t.summary_line(stack))}", ""]
    if not stacks:
        out += ["**No stacks to review.**", ""]
    out += [f"mlplan review: {code(document['base'])} -> {escape(document['head'])}", "",
            f"<sub>{t.legend()}</sub>", ""]
    for stack in stacks:
        out += _stack(stack, document["base"], shown, diagnostics_limit)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def render_review(document: dict[str, Any], max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The review as Markdown of at most ``max_chars`` characters (0: no limit).

    What always stays: the summary line per stack (what changes, quota), each stack's counts of
    errors and warnings, its quota table and its diagnostics (policy findings among them).
    When the whole does not fit, endpoint details are left out from the last changed endpoint
    backwards, and a line names how many and how to get the full review; if even that does not
    fit, diagnostics are listed up to a count per severity; the last resort cuts at a line.
    Example: 1000 endpoints, 100 changed -> the summary, the quota and the first changed
    endpoints' details that fit, then "**60 changed endpoints not shown here** ...".
    """
    document = safe.for_markdown(document)
    full = _render(document)
    if max_chars <= 0 or len(full) <= max_chars:
        return full
    changed = [(st["stack"], e) for st in document["stacks"] for e in st["endpoints"]
               if e["changed"]]
    for diagnostics_limit in (None, 50, 10, 3, 0):
        skeleton = _render(document, set(), diagnostics_limit)
        if len(skeleton) > max_chars:
            continue
        room = max_chars - len(skeleton)
        shown: Shown = set()
        for stack_name, endpoint in changed:
            size = len("\n".join(_endpoint(endpoint))) + 1
            if size > room:
                break
            shown.add((stack_name, endpoint["name"]))
            room -= size
        text = _render(document, shown, diagnostics_limit)
        while len(text) > max_chars and shown:  # the cut line's names may grow a little
            shown.discard(next((s, e["name"]) for s, e in reversed(changed)
                               if (s, e["name"]) in shown))
            text = _render(document, shown, diagnostics_limit)
        if len(text) <= max_chars:
            return text
    note = f"\n**Cut at {max_chars} characters**: {CUT_HOW}.\n"
    head = skeleton[:max(0, max_chars - len(note))]
    return head[:head.rfind("\n") + 1] + note.lstrip("\n")
