"""Plain-dict projections of a deployment, an endpoint and the stack settings (what matters,
without file/line bookkeeping) and their leaf-by-leaf comparison (``field_changes``).
Values of secret-looking fields (``*_KEY``, ``password``, ``token``...) and Pulumi ``secure:``
values are masked here, before they reach any renderer.
Example: ``{"environment": {"image": "a:1"}}`` -> ``{"environment": {"image": "a:2"}}`` gives
``[("environment.image", "a:1", "a:2")]``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from typing import Any

from mlplan.domain import secrets
from mlplan.domain.model import Deployment, Endpoint
from mlplan.domain.quantity import cores
from mlplan.domain.settings import Settings
from mlplan.planning.state import DeploymentState

Scalar = str | int | float | bool
MASK = secrets.MASK


_SCALARS = (str, int, float, bool)
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _plain(value: Any) -> Any:
    """A dataclass or mapping as a nested dict; a list or tuple as its JSON text (``()`` ->
    ``"[]"``), so it compares as one leaf; ``None`` as ``{}``."""
    if value is None:
        return {}
    cls = type(value)
    if cls in _SCALARS:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(cls)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return json.dumps(_jsonable(value), sort_keys=True) if value else "[]"
    return value


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _prune(value: Any) -> Any:
    """Drop unset leaves (``None``, ``""``) and empty mappings; a secure value is masked."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return MASK
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", {})}
    return value


def _scale(dep: Deployment) -> dict[str, Any]:
    s = dep.scale_settings
    if s.type != "target_utilization":
        return {"type": s.type}
    return _plain(s)  # type: ignore[no-any-return]


def _asset(settings: Settings, group: str, reference: str) -> Any:
    table = settings.assets.table(group) if reference else None
    return _plain(table.get(reference)) if isinstance(table, Mapping) else None


def deployment_projection(
    dep: Deployment, state: DeploymentState | None, settings: Settings
) -> dict[str, Any]:
    """The fields of a deployment that change what runs, as a plain nested dict.

    Example: blue.yml of the sample -> ``{"kind": "managed", "instance_type":
    "Standard_DS3_v2", "instance_count": 3, "environment": {"image": "mcr...:20250101.v1"},
    ..., "size": {"cores": 4, "memory_mib": 14336, "gpus": "0", "family": ...}}``.
    """
    model = _plain(dep.model)
    environment = _plain(dep.environment)
    for derived in ("conda_packages", "conda_inline"):  # read from conda_file, which is shown
        environment.pop(derived, None)
    resolved_model, resolved_environment = _resolved(dep, settings)
    if dep.model is not None:
        model["resolved"] = resolved_model
    if dep.environment is not None:
        environment["resolved"] = resolved_environment
    out: dict[str, Any] = {
        "kind": dep.kind,
        "instance_type": dep.instance_type,
        "instance_count": dep.instance_count,
        "model": model,
        "model_mount_path": dep.model_mount_path,
        "code_configuration": _plain(dep.code_configuration),
        "environment": environment,
        "environment_variables": dict(dep.environment_variables),
        "request_settings": _plain(dep.request_settings),
        "liveness_probe": _plain(dep.liveness_probe),
        "readiness_probe": _plain(dep.readiness_probe),
        "scale_settings": _scale(dep),
        "resources": _plain(dep.resources),
        "app_insights_enabled": dep.app_insights_enabled,
        "egress_public_network_access": dep.egress_public_network_access,
        "description": dep.description,
        "tags": dict(dep.tags),
    }
    if state is not None:
        out["size"] = _size(state)
    return _prune(out)  # type: ignore[no-any-return]


def _resolved(dep: Deployment, settings: Settings) -> tuple[Any, Any]:
    """The model and environment assets a deployment names, as its projection shows them."""
    return (_asset(settings, "models", dep.model.reference) if dep.model else None,
            _asset(settings, "environments", dep.environment.reference)
            if dep.environment else None)


def _size(state: DeploymentState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    size = state.size
    return {"cores": cores(size.cpu_millis), "memory_mib": size.memory_mib,
            "gpus": str(size.gpus), "family": size.family, "exempt": size.exempt,
            "node_selector": _plain(size.node_selector), "tolerations": _plain(size.tolerations)}


def same_deployment_projection(dep: Deployment, before: tuple[DeploymentState | None, Settings],
                               after: tuple[DeploymentState | None, Settings]) -> bool:
    """Whether ``deployment_projection`` of one deployment gives the same on both sides
    (state, settings), known without computing it: all else it reads is the deployment's,
    so equal sizes and equal resolved assets are enough. ``mlplan review`` reads an unchanged
    file once (``spec.parse``), so most deployments are one object on both sides.
    Example: blue.yml unchanged, its instance type's size and the assets the same -> True."""
    return (_same_size(before[0], after[0])
            and _resolved(dep, before[1]) == _resolved(dep, after[1]))


def _same_size(before: DeploymentState | None, after: DeploymentState | None) -> bool:
    """``_size`` of both equal: equal instance types (every field compared) are, others are
    compared by what ``_size`` shows of them."""
    if before is None or after is None:
        return before is after
    return before.size == after.size or _size(before) == _size(after)


def endpoint_projection(endpoint: Endpoint) -> dict[str, Any]:
    """``{"kind", "auth_mode", "traffic": {"blue": 90, ...}, "mirror_traffic": {...}, ...}``."""
    return _prune({  # type: ignore[no-any-return]
        "kind": endpoint.kind, "auth_mode": endpoint.auth_mode, "compute": endpoint.compute,
        "public_network_access": endpoint.public_network_access,
        "description": endpoint.description, "tags": dict(endpoint.tags),
        "traffic": dict(endpoint.traffic), "mirror_traffic": dict(endpoint.mirror_traffic),
    })


def settings_projection(settings: Settings) -> dict[str, Any]:
    """Stack settings that are not per endpoint. ``mlplan:keys`` appears only as a digest per
    endpoint under ``keys`` (a name that masks its values), so a rotation is a change."""
    return _prune({  # type: ignore[no-any-return]
        "keys": {name: {"digest": digest}
                 for name, digest in sorted(settings.key_digests.items())},
        "target": settings.target, "environment": settings.environment,
        "quota": {k: cores(v) for k, v in sorted(settings.quota_millis.items())},
        "limits": _plain(settings.limits),
        "instance_types": {t.name: _plain(t) for t in settings.instance_types},
        **{name: _plain(values) for name, values in settings.target_values.items()},
        "assets": _plain(settings.assets),
    })


# --- field changes -----------------------------------------------------------------------------


def _leaves(before: Any, after: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...],
                                                                             Any, Any]]:
    """Changed leaves under ``path``; equal subtrees are skipped at once (``==``), so two
    identical projections cost one comparison. A dict against a non-dict yields the scalar
    (removed or added) and every leaf of the dict; lists compare item by item (index as the
    path part). Example: ``{"a": {"b": 1}}`` -> ``{"a": 2}`` gives ``(("a", "b"), 1, None)``
    and ``(("a",), None, 2)``."""
    if before == after:
        return
    if isinstance(before, dict) or isinstance(after, dict):
        b = before if isinstance(before, dict) else {}
        a = after if isinstance(after, dict) else {}
        if not isinstance(before, dict) and before is not None:
            yield path, before, None
        if not isinstance(after, dict) and after is not None:
            yield path, None, after
        for key in sorted(set(b) | set(a)):
            yield from _leaves(b.get(key), a.get(key), (*path, str(key)))
    elif isinstance(before, list) and isinstance(after, list):
        for index in range(max(len(before), len(after))):
            yield from _leaves(before[index] if index < len(before) else None,
                               after[index] if index < len(after) else None,
                               (*path, str(index)))
    else:
        yield path, before, after


def sensitive(name: str) -> bool:
    """Whether a field or variable name looks secret (``secrets.sensitive``): ``API_KEY``,
    ``db_password``, ``token``, ``primaryKey``."""
    return secrets.sensitive(name)


def _masked(path: tuple[str, ...], value: Any) -> Scalar | None:
    if value is None:
        return None
    if any(sensitive(part) for part in path):
        return MASK
    return value if isinstance(value, str | int | float | bool) else str(value)


def field_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[
        tuple[str, Scalar | None, Scalar | None]]:
    """Two projections -> sorted ``(dotted path, before, after)`` leaves (``_leaves``).

    Example: ``{"environment": {"image": "a:1"}}`` -> ``{"environment": {"image": "a:2"}}``
    gives ``[("environment.image", "a:1", "a:2")]``; a whole dict added gives its leaves.
    Values equal by ``==`` are no change (``1`` and ``1.0``).
    """
    found = {(".".join(path), _masked(path, b), _masked(path, a))
             for path, b, a in _leaves(dict(before), dict(after), ())}
    return sorted(found, key=lambda c: c[0])
