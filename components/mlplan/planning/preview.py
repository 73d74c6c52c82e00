"""A Pulumi preview as a planning input: its parsed JSON -> the review's change model
(``StackPreview`` of ``EndpointChange`` / ``DeploymentChange``, the records of the git/folder
review), so a real engine's plan reads like ``mlplan review``. Pure: the edge reads the file
and decodes the JSON (``PreviewInput``); ``render.review_document`` writes the document.

Two inputs, told apart by their shape:

- ``pulumi preview --json``: one object ``{steps: [{op, urn, oldState, newState, diffReasons,
  replaceReasons, detailedDiff}], diagnostics, changeSummary}``. Policy violations are not in it.
- the streaming form (``PULUMI_ENABLE_STREAMING_JSON_PREVIEW=1 pulumi preview --json``): one
  engine event per line; ``resourcePreEvent.metadata`` gives the steps (``old``/``new``,
  ``keys``, ``diffs``, ``detailedDiff``), ``diagnosticEvent`` and ``policyEvent`` the findings.

Steps are grouped by the labels mlplan stamps on concrete resources (``mlplan.domain.labels``):
``mlplan.dev/endpoint``, ``mlplan.dev/deployment``, ``mlplan.dev/instance``,
read from Docker's ``labels: [{label, value}]`` or Kubernetes' ``metadata.labels``. Unlabelled
resources join the group of a labelled sibling with the same parent; the rest are "other
resources". Batches are numbered 1.. in the order of their ``mlplan.dev/batch`` values (0- or
1-based alike) or, without that label (mlplan's Docker containers carry none), of the batch
that the instance index falls in for the deployment's instance count (``rollout.batches``).

Ops per resource become one action: ``same`` no-op, ``create``, ``update``, ``delete``; a
Docker surge batch's instance (a new container by revision created, the old one deleted at the
end) reads as one instance ``create-then-delete``;
a replacement is ``delete-then-create`` when ``delete-replaced`` comes before
``create-replacement`` (or, with only ``replace`` shown, for Docker containers, whose provider
always deletes first) and ``create-then-delete`` otherwise (Pulumi's default).
Traffic comes from the ``mlplan.dev/traffic`` / ``mlplan.dev/mirror`` labels of the endpoint's
routing resource (``blue=90,green=10``; per-deployment ``mlplan.dev/weight`` labels otherwise),
quota from the ``mlplan:index:QuotaCheck`` component, both before (old state) and after (new
state). Without ``--show-sames`` unchanged resources are absent, so counts cover what is shown.
Pulumi's unknown sentinel reads ``(known after apply)``; secret-looking fields are masked.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlplan.domain import labels
from mlplan.planning import rollout
from mlplan.planning.diff import MASK, Action, Share, Stage, sensitive, stage_of
from mlplan.planning.diff.actions import (
    DeploymentChange,
    EndpointChange,
    FieldChange,
    ResourceChange,
    Shown,
    ShownBatch,
    ShownStep,
    TrafficChange,
)
from mlplan.planning.diff.prose import TRAFFIC_FIRST
from mlplan.planning.port import Effect
from mlplan.planning.rollout import batches

QUOTA_TYPE = "mlplan:index:QuotaCheck"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # how Pulumi's JSON shows an unknown string
_MARKUP = re.compile(r"<\{%[a-z-]*%\}>|\x1b\[[0-9;]*m")
_DIAGNOSTIC = re.compile(r"^(?P<path>.*?): (?P<sev>error|warning|info) (?P<code>MLP\d{3}): "
                         r"(?P<message>.*)$", re.S)
_CODE = re.compile(r"\b(MLP\d{3})\b")
_PATH_PART = re.compile(r'\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')
_KNOWN_OPS = {"same", "create", "update", "delete", "replace", "create-replacement",
              "delete-replaced", "read", "refresh", "import", "import-replacement",
              "discard", "discard-replaced", "remove-pending-replace", "read-replacement"}


class PreviewFormatError(ValueError):
    """The text is neither ``pulumi preview --json`` output nor its event stream."""


@dataclass(frozen=True)
class PreviewInput:
    """The decoded JSON of a preview file (the edge reads and decodes it): ``events`` for the
    streaming form (one value per line, or one object with ``sequence``), else ``document``
    (any JSON value; only an object with steps, changeSummary or diagnostics is a preview)."""

    document: Any = None
    events: list[Any] | None = None


@dataclass(frozen=True)
class Finding:
    """A diagnostic or policy violation the preview reports (all on the head side)."""

    severity: str  # error, warning or info
    code: str  # MLPnnn, a policy's name, or ``pulumi``
    path: str
    message: str


@dataclass(frozen=True)
class ShownQuotaRow:
    """Reserved cores of one family (or ``total``) from the QuotaCheck component's old and
    new state, as the preview shows them (cores, not millicores: a preview's numbers are
    JSON numbers). The peak is the larger side; ``over``: after > limit."""

    family: str
    before: float
    after: float
    limit_before: float | None
    limit: float | None

    @property
    def peak(self) -> float:
        return max(self.before, self.after)

    @property
    def over(self) -> bool:
        return self.limit is not None and self.after > self.limit


@dataclass(frozen=True)
class StackPreview:
    """One stack as a Pulumi preview shows it: the change model of ``mlplan review`` plus
    what only a preview has (resources outside any endpoint, every resource's action)."""

    stack: str
    endpoints: tuple[EndpointChange, ...]
    other_resources: tuple[ResourceChange, ...]
    quota: tuple[ShownQuotaRow, ...]  # families, then ``total`` last; () without QuotaCheck
    findings: tuple[Finding, ...]
    resource_actions: tuple[Action, ...]  # every concrete resource shown, for the counts


@dataclass(frozen=True)
class PreviewStep:
    op: str
    urn: str
    type: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    diffs: tuple[str, ...]
    keys: tuple[str, ...]  # replace reasons
    detailed: tuple[tuple[str, str], ...]  # (property path, diff kind)

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def parent(self) -> str:
        state = self.new or self.old or {}
        return str(state.get("parent") or "")


@dataclass(frozen=True)
class Preview:
    stack: str
    steps: tuple[PreviewStep, ...]
    diagnostics: tuple[Finding, ...]


# --- reading -----------------------------------------------------------------------------------


def _clean(text: Any) -> str:
    return _MARKUP.sub("", str(text or "")).strip()


def _urn_type(urn: str) -> str:
    parts = urn.split("::")
    return parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""


def _detailed(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(sorted((str(path), str(d.get("kind") or d.get("diffKind") or "update"))
                        for path, d in value.items() if isinstance(d, dict)))


def _step(op: Any, urn: Any, type_: Any, old: Any, new: Any, diffs: Any, keys: Any,
          detailed: Any) -> PreviewStep:
    urn = str(urn or "")
    old = old if isinstance(old, dict) else None
    new = new if isinstance(new, dict) else None
    return PreviewStep(str(op or ""), urn, str(type_ or (new or old or {}).get("type") or
                                       _urn_type(urn)),
                old, new, _texts(diffs), _texts(keys), _detailed(detailed))


def _texts(value: Any) -> tuple[str, ...]:
    """A list of names from the preview (anything else: none)."""
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _diagnostic(urn: Any, severity: Any, message: Any) -> Finding | None:
    text = _clean(message)
    sev = str(severity or "").split("#", 1)[0]
    parsed = _DIAGNOSTIC.match(text)
    if parsed:
        return Finding(parsed["sev"], parsed["code"], parsed["path"],
                       parsed["message"].strip())
    if sev not in ("error", "warning") or not text:
        return None
    code = _CODE.search(text)
    return Finding(sev, code.group(1) if code else "pulumi",
                   str(urn or "").rsplit("::", 1)[-1], text)


def _policy(event: dict[str, Any]) -> Finding:
    level = str(event.get("enforcementLevel") or "advisory")
    severity = "error" if level == "mandatory" else "warning" if level in (
        "advisory", "warning") else "info"
    text = _clean(event.get("message"))
    code = _CODE.search(text)
    if code and text.startswith(code.group(1)):
        text = text[len(code.group(1)):].lstrip(": ")
    pack = f"{event.get('policyPackName', '')}@{event.get('policyPackVersion', '')}".strip("@")
    where = str(event.get("resourceUrn") or "").rsplit("::", 1)[-1] or "stack"
    return Finding(severity,
                   code.group(1) if code else str(event.get("policyName") or "policy"),
                   f"{where} (policy {event.get('policyName', '')}, {pack}, {level})", text)


def _stack_of(steps: Iterable[PreviewStep]) -> str:
    for s in steps:
        parts = s.urn.split("::")
        if parts and parts[0].startswith("urn:pulumi:"):
            return parts[0].removeprefix("urn:pulumi:")
    return ""


def _document_steps(whole: Any, steps: list[PreviewStep], found: list[Finding]) -> None:
    """``pulumi preview --json``: ``steps`` and ``diagnostics``."""
    if not isinstance(whole, dict) or not ({"steps", "changeSummary", "diagnostics"}
                                           & set(whole)):
        raise PreviewFormatError("not a 'pulumi preview --json' document (no steps, "
                                 "changeSummary or diagnostics)")
    for raw in _objects(whole.get("steps"), "steps"):
        steps.append(_step(raw.get("op"), raw.get("urn"), None, raw.get("oldState"),
                           raw.get("newState"), raw.get("diffReasons"),
                           raw.get("replaceReasons"), raw.get("detailedDiff")))
    for d in _objects(whole.get("diagnostics"), "diagnostics"):
        entry = _diagnostic(d.get("urn"), d.get("severity"), d.get("message"))
        if entry:
            found.append(entry)


def _event_steps(events: list[Any], steps: list[PreviewStep], found: list[Finding]) -> None:
    """The event stream: ``resourcePreEvent`` / ``resOutputsEvent`` metadata,
    ``diagnosticEvent`` (not ephemeral) and ``policyEvent``."""
    for event in events:
        if not isinstance(event, dict):
            raise PreviewFormatError("an event line is not a JSON object")
        for key in ("resourcePreEvent", "resOutputsEvent"):
            body = event.get(key)
            meta = body.get("metadata") if isinstance(body, dict) else None
            if isinstance(meta, dict):
                steps.append(_step(meta.get("op"), meta.get("urn"), meta.get("type"),
                                   meta.get("old"), meta.get("new"), meta.get("diffs"),
                                   meta.get("keys"), meta.get("detailedDiff")))
        diag = event.get("diagnosticEvent")
        if isinstance(diag, dict) and not diag.get("ephemeral"):
            entry = _diagnostic(diag.get("urn"), diag.get("severity"), diag.get("message"))
            if entry:
                found.append(entry)
        policy = event.get("policyEvent")
        if isinstance(policy, dict):
            found.append(_policy(policy))


def read_preview(source: PreviewInput) -> Preview:
    """Either form -> steps (first of each urn+op, engine order) and diagnostics (deduplicated,
    by path, code, message). ``PreviewFormatError`` for JSON of another shape
    (``{"steps": [1]}``, ``[1]``)."""
    steps: list[PreviewStep] = []
    found: list[Finding] = []
    if source.events is None:
        _document_steps(source.document, steps, found)
    else:
        _event_steps(source.events, steps, found)
    seen: set[tuple[str, str]] = set()
    unique = []
    for s in steps:
        if (s.urn, s.op) not in seen and s.urn:
            seen.add((s.urn, s.op))
            unique.append(s)
    diagnostics = sorted(set(found), key=lambda d: (d.path, d.code, d.message, d.severity))
    return Preview(_stack_of(unique), tuple(unique), tuple(diagnostics))


def _objects(value: Any, what: str) -> list[dict[str, Any]]:
    """``value`` as a list of JSON objects (missing -> []); ``PreviewFormatError`` else."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise PreviewFormatError(f"'{what}' must be a list of JSON objects; pass the output "
                                 "of 'pulumi preview --json'")
    return value


# --- labels, paths, values ---------------------------------------------------------------------


def _inputs(state: dict[str, Any] | None) -> dict[str, Any]:
    if not state:
        return {}
    inputs = state.get("inputs")
    return inputs if isinstance(inputs, dict) else {}


def labels_of(state: dict[str, Any] | None) -> dict[str, str]:
    """Docker ``labels: [{label, value}]`` or Kubernetes ``metadata.labels`` of a state."""
    inputs = _inputs(state)
    found: dict[str, str] = {}
    raw = inputs.get("labels")
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and "label" in item:
                found[str(item["label"])] = str(item.get("value", ""))
    elif isinstance(raw, dict):
        found.update({str(k): str(v) for k, v in raw.items()})
    meta = inputs.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("labels"), dict):
        found.update({str(k): str(v) for k, v in meta["labels"].items()})
    return found


def _parse_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    at = 0
    while at < len(path):
        match = _PATH_PART.match(path, at)
        if not match or match.end() == at:
            return [path]
        name, index, quoted = match.groups()
        parts.append(int(index) if index is not None else name if name is not None
                     else quoted.replace('\\"', '"'))
        at = match.end()
    return parts


def _lookup(inputs: Any, parts: list[str | int]) -> Any:
    value = inputs
    for part in parts:
        found = (isinstance(part, int) and isinstance(value, list) and part < len(value)) or (
            isinstance(part, str) and isinstance(value, dict) and part in value)
        if not found:
            return None
        value = value[part]
    return value


def _shown_path(path: str, state: dict[str, Any] | None) -> str:
    """``labels[3].value`` -> ``labels[mlplan.dev/weight]`` when the state names the label."""
    parts = _parse_path(path)
    if len(parts) >= 2 and parts[0] == "labels" and isinstance(parts[1], int):
        item = _lookup(_inputs(state), parts[:2])
        if isinstance(item, dict) and "label" in item:
            return f"labels[{item['label']}]"
    return path


def _display(parts: list[str | int], value: Any) -> Any:
    if value == UNKNOWN:
        return "(known after apply)"
    if value is None or isinstance(value, dict | list):
        return None if value is None else json.dumps(value, sort_keys=True)
    if any(isinstance(p, str) and sensitive(p) for p in parts):
        return MASK
    if isinstance(value, str) and "=" in value and sensitive(value.split("=", 1)[0]):
        return value.split("=", 1)[0] + "=" + MASK
    return value


# --- grouping ----------------------------------------------------------------------------------


def resource_action(ops: list[str], delete_first: bool) -> tuple[Action, list[str]]:
    """Ops of one resource, in engine order -> its action and why; ``delete_first``: its type
    is one a target's provider replaces delete-first (``Target.delete_first_types``).

    Examples: ``["same"]`` -> no-op; ``["delete-replaced", "replace", "create-replacement"]``
    -> delete-then-create; ``["replace"]`` on a Docker container -> delete-then-create
    (inferred), on anything else -> create-then-delete (Pulumi's default).
    """
    real = [op for op in ops if op not in ("same", "read", "refresh")]
    if not real:
        return Action.NO_OP, []
    replaced = {"replace", "create-replacement", "delete-replaced", "import-replacement",
                "read-replacement"} & set(real)
    if replaced:
        if "delete-replaced" in real and "create-replacement" in real:
            first = real.index("delete-replaced") < real.index("create-replacement")
            return (Action.DELETE_THEN_CREATE if first else Action.CREATE_THEN_DELETE), []
        if delete_first:
            return Action.DELETE_THEN_CREATE, ["order inferred: pulumi-docker replaces "
                                               "containers delete-first"]
        return Action.CREATE_THEN_DELETE, ["order inferred: Pulumi creates the replacement "
                                           "first unless deleteBeforeReplace"]
    if "create" in real or "import" in real:
        return (Action.CREATE_THEN_DELETE if "delete" in real else Action.CREATE), []
    if "delete" in real or "discard" in real or "remove-pending-replace" in real:
        return Action.DELETE, []
    unknown = sorted(set(real) - _KNOWN_OPS)
    return Action.UPDATE, [f"op {', '.join(unknown)}"] if unknown else []


@dataclass
class _Resource:
    urn: str
    type: str
    name: str
    steps: list[PreviewStep]
    labels: dict[str, str]
    old_labels: dict[str, str]
    new_labels: dict[str, str]
    parent: str
    delete_first: bool  # its provider replaces it delete-first

    @property
    def action(self) -> tuple[Action, list[str]]:
        return resource_action([s.op for s in self.steps], self.delete_first)

    @property
    def old(self) -> dict[str, Any] | None:
        return next((s.old for s in self.steps if s.old), None)

    @property
    def new(self) -> dict[str, Any] | None:
        news = [s.new for s in self.steps if s.new and s.op not in ("delete", "delete-replaced")]
        return news[-1] if news else None


def _resources(steps: Iterable[PreviewStep], delete_first_types: frozenset[str]
               ) -> list[_Resource]:
    by_urn: dict[str, list[PreviewStep]] = {}
    for s in steps:
        by_urn.setdefault(s.urn, []).append(s)
    out = []
    for urn, group in by_urn.items():
        first = group[0]
        old = next((s.old for s in group if s.old), None)
        new = next((s.new for s in reversed(group) if s.new), None)
        old_labels, new_labels = labels_of(old), labels_of(new)
        out.append(_Resource(urn, first.type, first.name, group, {**old_labels, **new_labels},
                             old_labels, new_labels, first.parent,
                             first.type in delete_first_types))
    return out


def _reasons(resource: _Resource) -> list[str]:
    action, why = resource.action
    keys = sorted({k for s in resource.steps for k in s.keys})
    diffs = sorted({d for s in resource.steps for d in s.diffs})
    out = list(why)
    if keys and action.replaces:
        out.append("replaced because " + ", ".join(keys) + " changed")
    elif diffs and action is Action.UPDATE:
        out.append("changes " + ", ".join(diffs))
    return out


def _resource_change(r: _Resource) -> ResourceChange:
    return ResourceChange(r.name, r.type, r.urn, r.action[0], tuple(_reasons(r)))


def _short_type(type_: str) -> str:
    """``docker:index/container:Container`` -> ``Container``."""
    return type_.rsplit(":", 1)[-1] or type_


def _one(values: set[str]) -> Any:
    return json.loads(next(iter(values))) if len(values) == 1 else "(varies)"


def _field_changes(resources: list[_Resource]) -> tuple[FieldChange, ...]:
    """detailedDiff of the resources, merged per resource type and property path, with the
    values where the inputs hold them (``(known after apply)`` for preview unknowns)."""
    merged: dict[str, dict[str, Any]] = {}
    for r in resources:
        detailed = {p: k for s in r.steps for p, k in s.detailed}
        if not detailed:
            detailed = {k: "update-replace" for s in r.steps for k in s.keys}
            detailed.update({d: "update" for s in r.steps for d in s.diffs if d not in detailed})
        for path, kind in detailed.items():
            shown = f"{_short_type(r.type)}.{_shown_path(path, r.new or r.old)}"
            parts = _parse_path(path)
            before = _display(parts, _lookup(_inputs(r.old), parts))
            after = _display(parts, _lookup(_inputs(r.new), parts))
            entry = merged.setdefault(shown, {"kinds": set(), "before": set(), "after": set(),
                                              "count": 0})
            entry["kinds"].add(kind)
            entry["before"].add(json.dumps(before))
            entry["after"].add(json.dumps(after))
            entry["count"] += 1
    out = []
    for shown, entry in sorted(merged.items()):
        kinds = sorted(entry["kinds"])
        replace = any(k.endswith("-replace") for k in kinds)
        n = entry["count"]
        out.append(FieldChange(shown, _one(entry["before"]), _one(entry["after"]),
                               Effect.REPLACE_RESOURCE if replace else Effect.IN_PLACE,
                               f"{'/'.join(kinds)} on {n} resource{'s' if n != 1 else ''}"))
    return tuple(out)


def _index(value: str | None) -> tuple[int, str]:
    text = value or ""
    return (int(text), text) if text.isdigit() else (1 << 30, text)


@dataclass(frozen=True)
class _Traffic:
    """An endpoint's split on both sides, from its resources' labels (``None``: unknown)."""

    live_before: dict[str, int] | None
    live_after: dict[str, int] | None
    mirror_before: dict[str, int] | None
    mirror_after: dict[str, int] | None

    def share(self, name: str) -> Share:
        def get(table: dict[str, int] | None) -> int:
            return (table or {}).get(name, 0)

        return Share(get(self.live_before), get(self.live_after), get(self.mirror_before),
                     get(self.mirror_after))

    @property
    def known(self) -> bool:
        return self.live_before is not None or self.live_after is not None


def _split(value: str | None) -> dict[str, int] | None:
    """``blue=90,green=10`` (or space-separated) -> ``{"blue": 90, "green": 10}``; ``none`` ->
    ``{}``; no label -> ``None``."""
    if value is None:
        return None
    return dict(labels.parse_split(value))


def _traffic(own: list[_Resource], deployments: dict[str, list[_Resource]]) -> _Traffic:
    """From the ``mlplan.dev/traffic`` / ``mlplan.dev/mirror`` labels of the endpoint's routing
    resource (old state: before, new state: after); else from per-deployment ``weight`` labels."""
    def endpoint_label(side: str, key: str) -> dict[str, int] | None:
        for r in own:
            table = r.old_labels if side == "old" else r.new_labels
            if labels.TRAFFIC in table:
                return _split(table.get(key, "none"))
        return None

    found = [endpoint_label(side, key) for side in ("old", "new")
             for key in (labels.TRAFFIC, labels.MIRROR)]
    if any(v is not None for v in found):
        return _Traffic(found[0], found[2], found[1], found[3])

    def weights(side: str, key: str) -> dict[str, int] | None:
        table: dict[str, int] = {}
        for name, resources in deployments.items():
            for r in resources:
                got = (r.old_labels if side == "old" else r.new_labels).get(key, "")
                if got.isdigit():
                    table[name] = int(got)
                    break
        return table or None

    live_b, live_a = weights("old", labels.WEIGHT), weights("new", labels.WEIGHT)
    mirror_b = {k: v for k, v in (weights("old", labels.MIRROR) or {}).items() if v}
    mirror_a = {k: v for k, v in (weights("new", labels.MIRROR) or {}).items() if v}
    return _Traffic(live_b, live_a, mirror_b if live_b is not None else None,
                    mirror_a if live_a is not None else None)


def _batches_by_index(instances: list[_Resource]) -> dict[str, str]:
    """Instance index -> 1-based batch, from the count of instances the change leaves
    (Docker containers carry no batch label: see ``docker_containers._instance_labels``).
    Example: 10 instances -> {"0": "1", "1": "1", "2": "2", ..., "9": "5"}."""
    count = sum(1 for r in instances if r.action[0] is not Action.DELETE)
    return {str(i): str(number) for number, members in enumerate(batches(count), start=1)
            for i in members}


_REVISION_SUFFIX = re.compile(r"-[0-9a-f]{8}$")


def _surge_pairs(resources: list[_Resource]) -> list[_Resource]:
    """A Docker surge batch's instance is two resources in a preview: the container of the new
    revision (``create``, Pulumi name ``...-blue-0-<revision>``) and the old one (``delete``, at
    the end of the update). One instance index with exactly one of each -> one resource under
    the instance's name whose ops read create, then delete (``create-then-delete``)."""
    by_index: dict[str, list[_Resource]] = {}
    for r in resources:
        if r.delete_first and labels.INSTANCE in r.labels:
            by_index.setdefault(r.labels[labels.INSTANCE], []).append(r)
    merged: dict[str, _Resource] = {}
    dropped: set[str] = set()
    for pair in by_index.values():
        created = [r for r in pair if r.action[0] is Action.CREATE]
        deleted = [r for r in pair if r.action[0] is Action.DELETE]
        if len(pair) == 2 and len(created) == 1 and len(deleted) == 1:
            new, old = created[0], deleted[0]
            merged[new.urn] = _Resource(new.urn, new.type, _REVISION_SUFFIX.sub("", new.name),
                                        new.steps + old.steps, new.labels, old.old_labels,
                                        new.new_labels, new.parent, new.delete_first)
            dropped.add(old.urn)
    return [merged.get(r.urn, r) for r in resources if r.urn not in dropped]


def _schedule(groups: dict[tuple[int, str], list[_Resource]], instances: int, replaced: int,
              order: list[Action]) -> tuple[rollout.RolloutSchedule, bool]:
    """The roll's schedule and whether the preview shows all of it (every instance, batch by
    batch, in one order or Docker's surge: batch 1 create-then-delete, the rest delete-first)."""
    ordered = [{r.action[0] for r in g} for _k, g in sorted(groups.items())]
    docker_surge = (len(ordered) > 1 and ordered[0] == {Action.CREATE_THEN_DELETE}
                    and all(o == {Action.DELETE_THEN_CREATE} for o in ordered[1:]))
    schedule = rollout.RolloutSchedule.of(
        instances, surge=order == [Action.CREATE_THEN_DELETE] or docker_surge)
    whole = ((len(order) == 1 or docker_surge) and replaced == instances
             and len(groups) == schedule.batch_count)
    return schedule, whole


def _drain_note(drains: list[_Resource], rolled: bool) -> str:
    """What the changed drain containers (Docker: one per in-place batch) do, by batch.
    Example: batches 2-5 replaced in a roll -> ``batches 2, 3, 4, 5 are taken out of the
    routing (a drain container each, nginx down) before their containers stop; the routing
    config puts them back after the roll``."""
    numbers = sorted({int(b) for r in drains if (b := r.labels.get(labels.BATCH, "")).isdigit()})
    which = (f"batch{'es' if len(numbers) != 1 else ''} {', '.join(map(str, numbers))}"
             if numbers else "batches")
    if rolled:
        return (f"{which} {'are' if len(numbers) != 1 else 'is'} taken out of the routing (a "
                "drain container each, nginx down) before their containers stop; the routing "
                "config puts them back after the roll")
    return (f"the drain of {which} runs (the batch's members changed): each is out of the "
            "routing for a moment, one at a time, until the routing config puts it back")


def _order_reasons(action: Action, replaced: list[_Resource], drains: list[_Resource]
                   ) -> list[str]:
    """Why the replaced containers go in this order, and what the drains do."""
    found = []
    if action is Action.DELETE_THEN_CREATE and drains:
        found.append("containers are taken out of the routing, deleted, then recreated, batch "
                     "by batch; the other instances serve meanwhile")
    elif action is Action.DELETE_THEN_CREATE:
        found.append("containers are deleted, then recreated, batch by batch; the router "
                     "retries requests on the other instances")
    elif any(r.delete_first for r in replaced):
        found.append("the surge batch's new containers start beside the old ones (removed at "
                     "the end of the update); later batches are deleted, then recreated, "
                     "while they serve")
    if drains:
        found.append(_drain_note(drains, bool(replaced)))
    return found


def _without_drains(resources: list[_Resource]) -> tuple[list[_Resource], list[_Resource]]:
    """(the deployment's other resources, its drain containers: role ``drain``)."""
    drains = [r for r in resources if r.labels.get(labels.ROLE) == "drain"]
    return [r for r in resources if r.labels.get(labels.ROLE) != "drain"], drains


def _deployment(name: str, resources: list[_Resource], traffic: _Traffic
                ) -> DeploymentChange:
    # drains are routing steps of a roll, not instances: never the deployment's action
    resources, shown_drains = _without_drains(_surge_pairs(resources))
    drains = [r for r in shown_drains if r.action[0] is not Action.NO_OP]
    instances = [r for r in resources if labels.INSTANCE in r.labels]
    others = [r for r in resources if labels.INSTANCE not in r.labels]
    changed = [r for r in resources if r.action[0] is not Action.NO_OP]
    actions = {r.action[0] for r in changed}
    indexes = {r.labels.get(labels.INSTANCE) for r in resources}
    replaced = [r for r in instances if r.action[0].replaces]
    if not changed:
        action = Action.NO_OP
    elif actions == {Action.CREATE} and ("0" in indexes or not instances):
        action = Action.CREATE
    elif actions == {Action.DELETE} and ("0" in indexes or not instances):
        action = Action.DELETE
    elif replaced:
        orders = {r.action[0] for r in replaced}
        action = Action.DELETE_THEN_CREATE if orders == {Action.DELETE_THEN_CREATE} \
            else Action.CREATE_THEN_DELETE
    elif len(actions) == 1 and next(iter(actions)).replaces:
        action = next(iter(actions))
    else:
        action = Action.UPDATE
    steps: list[ShownStep] = []
    groups: dict[tuple[int, str], list[_Resource]] = {}
    batch_of = _batches_by_index(instances)
    for r in sorted(replaced, key=lambda r: _index(r.labels.get(labels.INSTANCE))):
        batch = r.labels.get(labels.BATCH) or batch_of.get(r.labels.get(labels.INSTANCE, ""))
        groups.setdefault(_index(batch), []).append(r)
    if replaced:
        order = sorted({r.action[0] for r in replaced}, key=lambda a: a.value)
        verbs = " / ".join(" then ".join(a.verbs) for a in order)
        summary = (f"roll {len(replaced)} of {len(instances)} instances in "
                   f"{len(groups)} batch{'es' if len(groups) != 1 else ''}, {verbs}")
        schedule, whole = _schedule(groups, len(instances), len(replaced), order)
        if whole:  # every instance, batch by batch: the plan's words and numbers
            summary = schedule.describe()
        steps.append(ShownStep(
            "roll", summary, order[0] if len(order) == 1 else None,
            schedule if whole else None,
            tuple(ShownBatch(number if key[0] != 1 << 30 else None,
                             tuple((r.name, r.action[0]) for r in group))
                  for number, (key, group) in enumerate(sorted(groups.items()), start=1))))
    added = [r for r in instances if r.action[0] is Action.CREATE]
    removed = [r for r in instances if r.action[0] is Action.DELETE]
    if action is Action.UPDATE and (added or removed):
        text = ", ".join(part for part in (
            f"{len(added)} instance{'s' if len(added) != 1 else ''} added" if added else "",
            f"{len(removed)} removed" if removed else "") if part)
        steps.insert(0, ShownStep("scale", text))
    share = traffic.share(name)
    existed = any(r.old is not None for r in [*resources, *shown_drains])
    exists = any(r.new is not None for r in [*resources, *shown_drains])
    stage = stage_of(share, existed, exists) if traffic.known else None
    reasons = sorted({why for r in changed for why in r.action[1]})
    reasons += _order_reasons(action, replaced, drains)
    return DeploymentChange(
        "", name, action, tuple(reasons), _field_changes(changed), share=share, stage=stage,
        shown=Shown(_type_pair(resources), traffic.known,
                    tuple(_resource_change(r) for r in [*others, *shown_drains]
                          if r.action[0] is not Action.NO_OP)),
        shown_steps=tuple(steps))


def _type_pair(resources: list[_Resource]) -> tuple[str | None, str | None] | None:
    old = next((r.old_labels[labels.INSTANCE_TYPE] for r in resources
                if labels.INSTANCE_TYPE in r.old_labels), None)
    new = next((r.new_labels[labels.INSTANCE_TYPE] for r in resources
                if labels.INSTANCE_TYPE in r.new_labels), None)
    return (old, new) if old or new else None


_ROLE_NOTES = {
    "router": "the router is replaced: the endpoint does not answer while it restarts",
    "config": "the routing config is replaced: the router reloads it without a restart",
}


def _pairs(table: dict[str, int] | None) -> tuple[tuple[str, int], ...]:
    return tuple((table or {}).items())


def _endpoint(name: str, own: list[_Resource], deployments: dict[str, list[_Resource]]
              ) -> EndpointChange:
    traffic = _traffic(own, deployments)
    deps = [_deployment(d, deployments[d], traffic) for d in sorted(deployments)]
    changed_own = [r for r in own if r.action[0] is not Action.NO_OP]
    own_actions = {r.action[0] for r in changed_own}
    dep_actions = {d.action for d in deps}
    every = (own_actions | dep_actions) - {Action.NO_OP}
    if not own_actions - {Action.NO_OP}:
        action = Action.NO_OP  # only deployments change: the endpoint's own resources stay
    elif every == {Action.CREATE} and own and all(r.old is None for r in own):
        action = Action.CREATE
    elif every == {Action.DELETE} and own and all(r.new is None for r in own):
        action = Action.DELETE
    else:
        action = Action.UPDATE
    reasons = sorted({_ROLE_NOTES[r.labels[labels.ROLE]] for r in changed_own
                      if r.action[0].replaces and r.labels.get(labels.ROLE) in _ROLE_NOTES})
    order = {s: i for i, s in enumerate(Stage)}
    stages = sorted(((d.stage, d.name) for d in deps if d.stage),
                    key=lambda s: (order[s[0]], s[1]))
    moved = sorted(d.name for d in deps if d.action is Action.DELETE and traffic.known
                   and (d.share.live_before or d.share.mirror_before))
    if moved and action is Action.UPDATE:
        reasons.append(f"{TRAFFIC_FIRST}: {', '.join(moved)} had traffic; Pulumi deletes last")
    t = traffic
    return EndpointChange(
        name, action, tuple(reasons), _field_changes(changed_own),
        TrafficChange(_pairs(t.live_before), _pairs(t.live_after), _pairs(t.mirror_before),
                      _pairs(t.mirror_after), tuple(stages), tuple(moved),
                      shown_changed=(t.live_before, t.mirror_before) != (t.live_after,
                                                                         t.mirror_after)
                      and action not in (Action.CREATE, Action.DELETE)),
        tuple(deps), resources=tuple(_resource_change(r) for r in changed_own),
        traffic_known=t.known)


def _quota(resources: list[_Resource]) -> tuple[ShownQuotaRow, ...]:
    check = next((r for r in resources if r.type == QUOTA_TYPE), None)
    if check is None:
        return ()

    def table(state: dict[str, Any] | None) -> dict[str, tuple[float, float | None]]:
        if not state:
            return {}
        props = state.get("outputs") or state.get("inputs") or {}
        if not isinstance(props, dict):
            return {}
        # reservedCores since the public QuotaCheck (mlplan.edge.api); requiredCores before
        rows: dict[str, tuple[float, float | None]] = {
            str(f.get("family")): (_num(f.get("reservedCores", f.get("requiredCores"))),
                                   _num_or_none(f.get("limitCores")))
            for f in _list(props.get("families")) if isinstance(f, dict)}
        rows["total"] = (_num(props.get("totalReservedCores", props.get("totalRequiredCores"))),
                         _num_or_none(props.get("totalLimitCores")))
        return rows

    old, new = table(check.old), table(check.new or check.old)
    entries = []
    for family in sorted(set(old) | set(new), key=lambda f: (f == "total", f)):
        before, limit_before = old.get(family, (0, None))
        after, limit = new.get(family, (0, None))
        entries.append(ShownQuotaRow(family, before, after, limit_before, limit))
    return tuple(entries)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _num(value: Any) -> float:
    got = _num_or_none(value)
    return 0 if got is None else got


def _num_or_none(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(number) or abs(number) > 1e12:  # JSON has no inf; nor does a quota
        return None
    return int(number) if number.is_integer() else number


def stack_preview(source: PreviewInput, *, delete_first_types: frozenset[str], stack: str = ""
                  ) -> StackPreview:
    """Read either preview form and group its resources by endpoint and deployment into the
    review's change model. ``delete_first_types``: the resource types some target's provider
    replaces delete-first (``registry.delete_first_types()``: Docker containers)."""
    preview = read_preview(source)
    resources = [r for r in _resources(preview.steps, delete_first_types)
                 if r.type != "pulumi:pulumi:Stack"]
    parents: dict[str, tuple[str, str]] = {}
    for r in resources:
        if labels.ENDPOINT in r.labels and r.parent:
            parents.setdefault(r.parent, (r.labels[labels.ENDPOINT],
                                          r.labels.get(labels.DEPLOYMENT, "")))
    endpoints: dict[str, tuple[list[_Resource], dict[str, list[_Resource]]]] = {}
    other: list[_Resource] = []
    for r in resources:
        if r.type.startswith("mlplan:index:"):
            continue  # logical components: their children are the real changes
        endpoint = r.labels.get(labels.ENDPOINT)
        deployment = r.labels.get(labels.DEPLOYMENT, "")
        if endpoint is None and r.parent in parents:
            endpoint, deployment = parents[r.parent]
        if endpoint is None:
            other.append(r)
            continue
        own, deps = endpoints.setdefault(endpoint, ([], {}))
        if deployment:
            deps.setdefault(deployment, []).append(r)
        else:
            own.append(r)
    return StackPreview(
        stack or preview.stack or "(unknown)",
        tuple(_endpoint(name, *endpoints[name]) for name in sorted(endpoints)),
        tuple(_resource_change(r) for r in sorted(other, key=lambda r: r.urn)
              if r.action[0] is not Action.NO_OP),
        _quota(resources), preview.diagnostics,
        tuple(r.action[0] for r in resources if not r.type.startswith("mlplan:index:")))
