"""Run a Pulumi program under mocks and record every resource registration with its options.

``MockResourceArgs`` lacks resource options, so ``RecordingMonitor`` keeps the raw
``RegisterResourceRequest`` (parent, dependencies, deleteBeforeReplace, ignoreChanges, ...).
Inputs are kept as the program sent them (wire names, camelCase; secrets unwrapped and noted).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks, rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await


@dataclass
class Recorded:
    type: str
    name: str
    urn: str
    parent: str
    inputs: dict[str, Any]
    dependencies: list[str]
    delete_before_replace: bool
    ignore_changes: list[str]
    replace_on_changes: list[str]
    custom: bool
    secret_inputs: set[str] = field(default_factory=set)


class RecordingMonitor(mocks.MockMonitor):
    def __init__(self, mocks_: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks_)
        self.recorded: list[Recorded] = []

    def RegisterResource(self, request: Any) -> Any:  # gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            _ensure_event_loop()
            raw = rpc.deserialize_properties(request.object, keep_unknowns=True)
            secrets = {k for k, v in raw.items() if _is_secret(v)}
            self.recorded.append(Recorded(
                type=request.type, name=request.name, urn=response.urn, parent=request.parent,
                inputs=_plain(raw), dependencies=list(request.dependencies),
                delete_before_replace=bool(request.deleteBeforeReplace),
                ignore_changes=list(request.ignoreChanges),
                replace_on_changes=list(request.replaceOnChanges),
                custom=bool(request.custom), secret_inputs=secrets,
            ))
        return response


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def _plain(value: Any) -> Any:
    if _is_secret(value):
        return _plain(value["value"])
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Mocks(pulumi.runtime.Mocks):
    """Echo inputs as state; give generated passwords a deterministic result, except in a
    preview, where (as with the engine) a password not yet created is unknown."""

    def __init__(self, preview: bool = False) -> None:
        self.preview = preview

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword" and not self.preview:
            state["result"] = f"generated-{args.name}-" + "x" * 24
        if args.typ == "docker:index/remoteImage:RemoteImage":  # the id follows the image name
            state["imageId"] = "sha256:" + str(args.inputs.get("name", ""))
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


def stack_config(project: Path, stack: str) -> dict[str, Any]:
    """The config the engine hands a program for ``stacks/Pulumi.<stack>.yaml`` of ``project``:
    every ``namespace:key`` of the file's ``config:``, text as is, anything else as JSON (as
    the engine passes objects, lists and numbers). ``{}`` when there is no such file."""
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        return {}
    loaded = yaml.safe_load(path.read_text()) or {}
    config = loaded.get("config") or {} if isinstance(loaded, dict) else {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def run_program(program: Any, *, stack: str = "dev", preview: bool = False,
                config: dict[str, Any] | None = None, record: bool = True,
                project: Path | None = None) -> list[Recorded]:
    """Run ``program()`` under fresh mocks; return the registrations in order (none when
    ``record`` is false: the plain mock monitor, for timing the program alone). The config
    is (as the engine would give it) that of ``project``'s stack file, updated by ``config``."""
    if project is not None:
        config = {**stack_config(project, stack), **(config or {})}
    mocks_ = Mocks(preview)
    monitor = RecordingMonitor(mocks_) if record else mocks.MockMonitor(mocks_)
    pulumi.runtime.set_mocks(mocks_, project="mlplan", stack=stack, preview=preview,
                             monitor=monitor)
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v)
                                   for k, v in (config or {}).items()})
    _sync_await(run_pulumi_func(program))
    return monitor.recorded if isinstance(monitor, RecordingMonitor) else []


def by_type(recorded: list[Recorded], type_: str) -> list[Recorded]:
    return [r for r in recorded if r.type == type_]


def one(recorded: list[Recorded], type_: str, name: str) -> Recorded:
    found = [r for r in recorded if r.type == type_ and r.name == name]
    assert len(found) == 1, f"{type_} {name}: {len(found)} found; have " + ", ".join(
        sorted(f"{r.type} {r.name}" for r in recorded))
    return found[0]
