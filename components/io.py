"""Side effects at the edge: find the project, read stack config and endpoint YAML files.

Everything read here is handed to the pure core as text; the core never touches the disk.
Paths shown to users are relative to the project root (where ``Pulumi.yaml`` is) in stack mode
and as given in path mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from components.core import assets, codes, docker_plan
from components.core.diagnostics import Diagnostic, Location, error
from components.core.kubernetes_settings import parse_kubernetes_settings
from components.core.model import Endpoint
from components.core.settings import Settings, from_stack_document
from components.core.spec import SourceText, parse
from components.core.yamlsource import YamlDocument, decode, parse_yaml

YAML_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class Loaded:
    endpoints: tuple[Endpoint, ...]
    settings: Settings
    diagnostics: tuple[Diagnostic, ...]
    stack: str = ""


def find_project_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``Pulumi.yaml``."""
    for folder in (start, *start.parents):
        if (folder / "Pulumi.yaml").is_file() or (folder / "Pulumi.yml").is_file():
            return folder
    return None


def stack_config_dir(root: Path) -> Path:
    project = root / "Pulumi.yaml"
    loaded = parse_yaml(project.read_text(encoding="utf-8")) if project.is_file() else None
    if loaded and loaded.documents and isinstance(loaded.documents[0].value, dict):
        configured = loaded.documents[0].value.get("stackConfigDir")
        if isinstance(configured, str) and configured:
            return root / configured
    return root


def read_text(path: Path) -> str:
    """File text (``yamlsource.decode``: UTF-8, or UTF-16/32 with a byte order mark) with CRLF
    folded to LF (Azure's examples have both)."""
    return decode(path.read_bytes())


def collect_sources(
    paths: list[str], base: Path, found: list[Diagnostic], where: Location | None = None
) -> list[SourceText]:
    """Files named, plus every ``*.yml``/``*.yaml`` below folders named, in sorted order."""
    sources: list[SourceText] = []
    for name in paths:
        path = base / name
        if path.is_file():
            sources.append(SourceText(_shown(path, base), read_text(path), explicit=True))
        elif path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES):
                if child.is_file():
                    sources.append(SourceText(_shown(child, base), read_text(child),
                                              explicit=False))
        else:
            found.append(error(codes.SETTINGS_PATH if where else codes.PATH_NOT_FOUND,
                               where or Location(name),
                               f"'{name}' does not exist (looked in {base}); fix the path."))
    return sources


def _shown(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def check_paths(
    endpoints: tuple[Endpoint, ...], root: Path, asset_map: Mapping[str, Any]
) -> list[Diagnostic]:
    """Model (inline or mapped), code folder, scoring script and conda file must exist."""
    found: list[Diagnostic] = []
    for endpoint in endpoints:
        for dep in endpoint.deployments:
            wanted: list[tuple[str, str, str]] = []
            model = assets.resolve_model(dep, asset_map)
            if model is not None:
                field = "model.path" if dep.model and dep.model.path else "model"
                wanted.append((field, model.path, "model"))
            if dep.code_configuration:
                code = dep.code_configuration
                wanted.append(("code_configuration.code", code.code, "code folder"))
                wanted.append(("code_configuration.scoring_script",
                               f"{code.code}/{code.scoring_script}", "scoring script"))
            if dep.environment and dep.environment.conda_file:
                wanted.append(("environment.conda_file", dep.environment.conda_file,
                               "conda file"))
            for field, relative, what in wanted:
                if "://" in relative or relative.startswith("azureml:"):
                    continue
                if not (root / relative).exists():
                    found.append(error(codes.PATH_NOT_FOUND, dep.source.at(field),
                                       f"{what} '{relative}' does not exist; fix the path "
                                       "(relative to the YAML file)."))
    return found


def load_paths(paths: list[str], cwd: Path, settings: Settings) -> Loaded:
    """Plan plain Azure ML YAML files or folders, no stack: spec only, paths not checked."""
    found: list[Diagnostic] = []
    sources = collect_sources(paths, cwd, found)
    result = parse(sources)
    return Loaded(result.endpoints, settings, (*found, *result.diagnostics))


def _line(document: YamlDocument, key: str) -> int:
    return document.line_of(("config", key))


@dataclass(frozen=True)
class StackSettings:
    """A stack file read and validated: settings, their problems, the document (for lines)."""

    settings: Settings
    diagnostics: tuple[Diagnostic, ...]
    document: YamlDocument | None
    shown: str


def load_settings(root: Path, stack: str) -> StackSettings:
    """Read and check ``Pulumi.<stack>.yaml`` (mlplan:* and the target's own settings)."""
    config_dir = stack_config_dir(root)
    stack_file = config_dir / f"Pulumi.{stack}.yaml"
    shown = _shown(stack_file, root)
    if not stack_file.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml")
                       for p in config_dir.glob("Pulumi.*.yaml"))
        message = (f"stack '{stack}' has no config file {shown}; "
                   f"known stacks: {', '.join(known) or 'none'}. Pass --stack NAME.")
        return StackSettings(Settings(file=shown), (error(codes.SETTINGS, Location(shown),
                                                          message),), None, shown)
    loaded = parse_yaml(read_text(stack_file))
    if loaded.syntax_error or not loaded.documents:
        line, message = loaded.syntax_error or (0, "empty file")
        return StackSettings(Settings(file=shown), (error(
            codes.SETTINGS, Location(shown, line), f"YAML: {message}."),), None, shown)
    document = loaded.documents[0]
    problems = [error(codes.SETTINGS, Location(shown, line, field), f"YAML: {message}.")
                for line, field, message in document.problems]
    if document.value is None:  # cut short (too many values): its settings are not read
        return StackSettings(Settings(file=shown), tuple(problems), None, shown)
    config = document.value.get("config") if isinstance(document.value, dict) else None
    if isinstance(config, dict):
        _register_secrets(config.get("mlplan:keys"))
    settings, found = from_stack_document(document, shown)
    found[:0] = problems
    if settings.target == "docker":
        found.extend(docker_plan.parse_settings(
            settings.docker, Location(shown, _line(document, "mlplan:docker"),
                                      "mlplan:docker"))[1])
    else:
        found.extend(parse_kubernetes_settings(
            settings.kubernetes, shown,
            lambda path: document.line_of(("config", "mlplan:kubernetes", *path)))[1])
    return StackSettings(replace(settings, file=shown), tuple(found), document, shown)


def _register_secrets(value: Any) -> None:
    """Every text under ``mlplan:keys`` is masked in all output (``render.safe``)."""
    from components.render import safe

    if isinstance(value, str):
        safe.register_secret(value)
    elif isinstance(value, dict):
        for item in value.values():
            _register_secrets(item)
    elif isinstance(value, list):
        for item in value:
            _register_secrets(item)


def _check_key_endpoints(settings: Settings, endpoints: tuple[Endpoint, ...],
                         document: YamlDocument, shown: str) -> list[Diagnostic]:
    """Each endpoint named under ``mlplan:keys`` must be declared (else its keys would be
    ignored and others generated, silently)."""
    import difflib

    declared = [e.name for e in endpoints]
    found = []
    for name in sorted(settings.key_digests):
        if name == "*" or name in declared:
            continue
        close = difflib.get_close_matches(name, declared, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        line = document.line_of(("config", "mlplan:keys", name))
        found.append(error(codes.SETTINGS, Location(shown, line, f"mlplan:keys.{name}"),
                           f"endpoint '{name}' is not declared, so these keys would be unused; "
                           f"{hint}fix the name (endpoints: {', '.join(declared) or 'none'})."))
    return found


def load_stack(root: Path, stack: str) -> Loaded:
    """Read ``Pulumi.<stack>.yaml``, its endpoint files, and check the paths they name."""
    read = load_settings(root, stack)
    settings, document = read.settings, read.document
    found: list[Diagnostic] = list(read.diagnostics)
    if document is None:
        return Loaded((), settings, tuple(found), stack)
    sources: list[SourceText] = []
    for index, name in enumerate(settings.endpoint_paths):
        line = document.line_of(("config", "mlplan:endpoints", index))
        where = Location(read.shown, line, f"mlplan:endpoints[{index}]")
        sources.extend(collect_sources([name], root, found, where))
    result = parse(sources)
    found.extend(result.diagnostics)
    served = settings.kubernetes.get("models") if settings.target == "kubernetes" else None
    found.extend(assets.check(result.endpoints, settings.assets,
                              frozenset(served) if isinstance(served, dict) else frozenset()))
    found.extend(check_paths(result.endpoints, root, settings.assets))
    found.extend(_check_key_endpoints(settings, result.endpoints, document, read.shown))
    return Loaded(result.endpoints, settings, tuple(found), stack)
