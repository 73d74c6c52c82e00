"""Review -> text for a terminal; colour only when asked (the CLI asks when stdout is a tty).

Diagnostics are rendered apart (``render_diagnostics``) because the CLI writes them to stderr,
one per line, the base's prefixed with ``base:``.
"""

from __future__ import annotations

from typing import Any

from mlplan.render import review_tables as t
from mlplan.render import safe
from mlplan.render.text import table

_COLOURS = {"create": "32", "update": "33", "replace": "35", "delete": "31", "no-op": "0"}


class _Paint:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, verbs: list[str], text: str) -> str:
        if not self.enabled or verbs == ["no-op"]:
            return text
        kind = "replace" if len(verbs) == 2 else verbs[0]
        return f"\033[{_COLOURS[kind]}m{text}\033[0m"

    def bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self.enabled else text


def _fields(changes: list[dict[str, Any]], indent: str) -> list[str]:
    return table(t.FIELD_HEADERS, [t.field_row(c) for c in changes], indent, frozenset())


def _resources(resources: list[dict[str, Any]], indent: str, paint: _Paint) -> list[str]:
    out = []
    for r in resources:
        why = "; ".join(r.get("reasons") or ())
        line = (f"{indent}{paint(r['actions'], t.symbol(r['actions']))} {r['name']} "
                f"({r['type']}): {t.action(r['actions']).value}")
        out.append(line + (f" ({why})" if why else ""))
    return out


def _deployment(endpoint: str, dep: dict[str, Any], paint: _Paint) -> list[str]:
    verbs = dep["actions"]
    out = [f"  {paint(verbs, t.symbol(verbs))} {endpoint}/{t.deployment_name(dep)}: "
           f"{paint(verbs, t.action(verbs).value)}"]
    out += [f"      - {r}" for r in dep.get("reasons") or ()]
    if dep.get("changes"):
        out += _fields(dep["changes"], "      ")
    for number, step in enumerate(dep.get("steps") or (), start=1):
        out.append(f"      {number}. {t.step_text(step)}")
        for batch in step.get("batches") or ():
            names = ", ".join(i["name"] for i in batch["instances"])
            verbs_text = sorted({" then ".join(i["actions"]) for i in batch["instances"]})
            out.append(f"         batch {batch['batch']}: {names} ({', '.join(verbs_text)})")
    if dep.get("resources"):
        out += _resources(dep["resources"], "      ", paint)
    return out


def _endpoint(endpoint: dict[str, Any], paint: _Paint) -> list[str]:
    verbs = endpoint["actions"]
    renamed = f" (was {endpoint['renamed_from']})" if endpoint.get("renamed_from") else ""
    source = f"  ({endpoint['source']})" if endpoint.get("source") else ""
    out = [f"{paint(verbs, t.symbol(verbs))} endpoint {paint(verbs, endpoint['name'])}{renamed}: "
           f"{t.endpoint_action_text(endpoint)}{source}"]
    line = t.traffic_line(endpoint)
    if line:
        out.append(f"    traffic: {line}")
    out += [f"    - {r}" for r in endpoint.get("reasons") or ()]
    if endpoint["deployments"]:
        out += table(t.DEPLOYMENT_HEADERS, [t.deployment_row(d) for d in endpoint["deployments"]],
                     "    ", t.RIGHT_ALIGNED)
    if endpoint.get("changes"):
        out += _fields(endpoint["changes"], "    ")
    if endpoint.get("resources"):
        out += _resources(endpoint["resources"], "    ", paint)
    for dep in endpoint["deployments"]:
        if dep["actions"] != ["no-op"] and t.has_details(dep):
            out += _deployment(endpoint["name"], dep, paint)
    return out


def _stack(stack: dict[str, Any], paint: _Paint) -> list[str]:
    sides = t.sides_line(stack)
    out = [f"stack {stack['stack']}" + (f" · {sides}" if sides else "")
           + f" · {t.diagnostics_line(stack)}", ""]
    if not stack["summary"]["changes"]:
        out += ["  No changes.", ""]
    for endpoint in stack["endpoints"]:
        if endpoint["changed"]:
            out += [*_endpoint(endpoint, paint), ""]
    line = t.unchanged_line(stack)
    if line:
        out += [line, ""]
    if stack.get("other_resources"):
        out += ["other resources", *_resources(stack["other_resources"], "  ", paint), ""]
    if stack.get("settings_changes"):
        out += ["stack settings", *_fields(stack["settings_changes"], "  "), ""]
    rows = t.quota_rows(stack)
    if rows:
        out += ["quota (cores reserved: ceil(1.2 x instances) x cores; exempt SKUs: instances x "
                "cores; peak: deletes run last)",
                *table(t.QUOTA_HEADERS, rows, "  ", t.RIGHT_ALIGNED), ""]
    out.append(paint.bold(f"Review {stack['stack']}: {t.summary_line(stack)}."))
    return out


def render_review(document: dict[str, Any], colour: bool = False) -> str:
    document = safe.for_text(document)
    paint = _Paint(colour)
    out = [f"mlplan review · base {document['base']} -> {document['head']}", ""]
    for stack in document["stacks"]:
        out += [*_stack(stack, paint), ""]
    if not document["stacks"]:
        out += ["No stacks to review.", ""]
    out.append(f"Legend: {t.legend_plain()}")
    return "\n".join(out) + "\n"


def render_diagnostics(document: dict[str, Any]) -> str:
    """``path: severity CODE: message`` per line; base lines start with ``base:``."""
    document = safe.for_text(document)
    lines = []
    for stack in document["stacks"]:
        for d in stack["diagnostics"]:
            prefix = "base: " if d["side"] == "base" else ""
            lines.append(f"{prefix}{d['path']}: {d['severity']} {d['code']}: {d['message']}\n")
    return "".join(lines)
