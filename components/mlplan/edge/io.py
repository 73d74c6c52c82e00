"""Side effects at the edge: find the project, read stack config and endpoint YAML files.

Everything read here is handed to the pure core as text; the core never touches the disk.
Paths shown to users are relative to the project root (where ``Pulumi.yaml`` is) in stack mode
and as given in path mode.

Paths are contained (``resolve``): every path a stack file names (``mlplan:endpoints``, model,
code and conda paths, ``stackConfigDir``) must resolve, symlinks followed, inside the project
root; ``MLPLAN_ALLOW_OUTSIDE_ROOT=1`` in the environment lifts that for a trusted checkout.
Only regular files are read (a FIFO, a device or a socket is refused), at most
``MAX_FILE_BYTES`` (4 MiB) each, and a folder scan stops after ``MAX_FILES`` (10,000) entries.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlplan.domain import assets, codes
from mlplan.domain.diagnostics import Diagnostic, Location, error, warning
from mlplan.domain.model import Deployment, Endpoint
from mlplan.domain.settings import NAMESPACE, Settings, from_stack_document
from mlplan.domain.spec import SourceText, SourceValue, parse
from mlplan.domain.yamlsource import FieldPath, YamlDocument, decode, parse_yaml
from mlplan.targets import registry
from mlplan.targets.containment import MAX_CHECKED_ENTRIES, files_below, in_tree, resolve
from mlplan.targets.containment import MAX_PATH as MAX_PATH
from mlplan.targets.containment import OUTSIDE_ROOT_ENV as OUTSIDE_ROOT_ENV
from mlplan.targets.containment import PathProblem as PathProblem

YAML_SUFFIXES = (".yml", ".yaml")
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_FILES = 10_000
MAX_PREVIEW_BYTES = 64 * 1024 * 1024  # a recorded pulumi preview of a large stack


def kind_problem(path: Path, want: str) -> str:
    """"" when ``path`` is what is wanted (``file``: a regular file; ``folder``; ``any``:
    either), else what is wrong. FIFOs, devices and sockets are never read."""
    if in_tree(path):
        ok = path.is_file() or path.is_dir()
        return "" if ok else "does not exist"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISREG(mode):
        return "" if want in ("file", "any") else "is a file, not a folder"
    if stat.S_ISDIR(mode):
        return "" if want in ("folder", "any") else "is a folder, not a file"
    return "is not a regular file or folder (a FIFO, device or socket); mlplan does not read it"


@dataclass(frozen=True)
class Loaded:
    endpoints: tuple[Endpoint, ...]
    settings: Settings
    diagnostics: tuple[Diagnostic, ...]
    stack: str = ""
    #: files found in folders and not planned (no endpoint or deployment document in them)
    skipped: tuple[str, ...] = ()


def find_project_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``Pulumi.yaml``."""
    for folder in (start, *start.parents):
        if (folder / "Pulumi.yaml").is_file() or (folder / "Pulumi.yml").is_file():
            return folder
    return None


def stack_config_dir(root: Path) -> Path:
    project = root / "Pulumi.yaml"
    try:
        loaded = parse_yaml(read_text(project)) if project.is_file() else None
    except PathProblem:
        loaded = None
    if loaded and loaded.documents and isinstance(loaded.documents[0].value, dict):
        configured = loaded.documents[0].value.get("stackConfigDir")
        if isinstance(configured, str) and configured:
            try:
                return resolve(root, configured)
            except PathProblem:
                return root  # then the stack file is not found there, and that is said
    return root


def read_text(path: Path | str, limit: int = MAX_FILE_BYTES) -> str:
    """File text (``yamlsource.decode``: UTF-8, or UTF-16/32 with a byte order mark) with CRLF
    folded to LF (Azure's examples have both); ``PathProblem`` for a special file or one over
    ``MAX_FILE_BYTES``."""
    if not isinstance(path, str) and in_tree(path):  # a base of ``review``: sized first
        if path.size() > limit:  # type: ignore[attr-defined]
            raise PathProblem(f"is over {limit // 1024 // 1024} MiB; mlplan reads files of "
                              "this kind up to that size")
        return decode(path.read_bytes())
    try:  # O_NONBLOCK: opening a FIFO returns at once, and fstat then refuses it
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        raise PathProblem(kind_problem(Path(path), "file") or "cannot be read") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise PathProblem(kind_problem(Path(path), "file") or "is not a regular file")
        data = _read_up_to(descriptor, limit + 1, status.st_size + 1)
    finally:
        os.close(descriptor)
    if len(data) > limit:
        raise PathProblem(f"is over {limit // 1024 // 1024} MiB; mlplan reads files of this "
                          "kind up to that size")
    return decode(data)


def _read_up_to(descriptor: int, size: int, expected: int) -> bytes:
    """At most ``size`` bytes of an open file, read without a buffered file object (a stack
    reads thousands of small files), ``expected`` (its size when opened, plus one: the end
    seen at once) at first, then in chunks of up to 64 KiB if it grew."""
    chunks = []
    want = min(size, max(expected, 1))
    while size > 0:
        chunk = os.read(descriptor, want)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
        want = min(size, 1 << 16)
    return b"".join(chunks)


def _walk(folder: Path, found: list[Diagnostic], where: Location
          ) -> list[tuple[Path | str, bool]]:
    """(YAML file, is a symlink) below ``folder`` in sorted order, symlinked folders not
    followed, at most ``MAX_FILES`` entries looked at. Files on disk come as text (``folder``
    joined with the names below it; a stack has thousands), those in a git tree as paths."""
    if in_tree(folder):
        return [(p, False) for p in folder.files_below(YAML_SUFFIXES)]  # type: ignore[attr-defined]
    files: list[tuple[Path | str, bool]] = []
    seen = 0
    pending = [str(folder)]
    while pending:
        top = pending.pop()
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        seen += len(entries)
        if seen > MAX_FILES:
            found.append(error(codes.SETTINGS_PATH if where.field else codes.PATH_NOT_FOUND,
                               where, f"'{folder}' holds over {MAX_FILES} files and folders; "
                               "name the folder of the endpoint files instead."))
            return []
        for entry in entries:
            link = entry.is_symlink()
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
            elif entry.name.endswith(YAML_SUFFIXES):
                files.append((entry.path, link))
    # in the order of sorted Paths (part by part: "a/b" before "a-c"), compared as text
    files.sort(key=lambda found: str(found[0]).split("/"))
    return files


def collect_sources(
    paths: list[str], base: Path, found: list[Diagnostic], where: Location | None = None
) -> list[SourceText]:
    """Files named, plus every ``*.yml``/``*.yaml`` below folders named, in sorted order."""
    sources: list[SourceText] = []
    code = codes.SETTINGS_PATH if where else codes.PATH_NOT_FOUND
    for name in paths:
        at = where or Location(name[:200])
        try:
            path = resolve(base, name, contained=where is not None)
            problem = kind_problem(path, "any")
        except PathProblem as exc:
            found.append(error(code, at, f"{exc}."))
            continue
        if problem == "does not exist":
            found.append(error(code, at, f"'{name}' does not exist (looked in {base}); fix the "
                                         "path."))
            continue
        if problem:
            found.append(error(code, at, f"'{name}' {problem}."))
            continue
        explicit = not path.is_dir()
        for child, link in [(path, False)] if explicit else _walk(path, found, at):
            shown = _shown(child, base)
            try:
                if where is not None and link:
                    resolve(base, shown)  # a symlink in the folder may point out of the root
                sources.append(SourceText(shown, read_text(child), explicit=explicit))
            except PathProblem as exc:
                found.append(error(code, Location(shown) if not explicit else at,
                                   f"'{shown}' {exc}." if not str(exc).startswith("'")
                                   else f"{exc}."))
    return sources


def _shown(path: Path | str, base: Path) -> str:
    """``path`` relative to ``base`` (as ``Path.relative_to``), else as it is. A file found on
    disk below ``base`` (``_walk``'s text, normal) is cut at once."""
    if isinstance(path, str):
        prefix = str(base).rstrip("/") + "/"
        if path.startswith(prefix):
            return path[len(prefix):]
        path = Path(path)
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def _wanted_paths(dep: Deployment, asset_map: assets.Assets) -> list[tuple[str, str, str]]:
    """(field, project-relative path, what) of every path a deployment names."""
    wanted: list[tuple[str, str, str]] = []
    model = assets.resolve_model(dep, asset_map)
    if model is not None:
        field = "model.path" if dep.model and dep.model.path else "model"
        wanted.append((field, model.path, "model"))
    code_folder = assets.resolve_code(dep, asset_map)  # mapped when a registered asset
    if dep.code_configuration and code_folder:
        code = dep.code_configuration
        wanted.append(("code_configuration.code", code_folder, "code folder"))
        wanted.append(("code_configuration.scoring_script",
                       f"{code_folder}/{code.scoring_script}", "scoring script"))
    if dep.environment and dep.environment.conda_file:
        wanted.append(("environment.conda_file", dep.environment.conda_file,
                       "conda file"))
    if dep.environment and dep.environment.build_path:  # the image's build context
        build = dep.environment.build_path
        wanted.append(("environment.build.path", build, "build context"))
        wanted.append(("environment.build.dockerfile_path",
                       f"{build.rstrip('/')}/{dep.environment.dockerfile_path}",
                       "Dockerfile"))
    return wanted


def check_paths(  # noqa: C901
    endpoints: tuple[Endpoint, ...], root: Path, asset_map: assets.Assets
) -> list[Diagnostic]:
    """Model (inline or mapped), code folder, scoring script and conda file must exist, inside
    the root, and be a file or folder as each must."""
    found: list[Diagnostic] = []
    checked: dict[tuple[str, str], str] = {}  # (path, wanted kind) -> problem; "!..." refused
    for endpoint in endpoints:
        for dep in endpoint.deployments:
            wanted = _wanted_paths(dep, asset_map)
            for field, relative, what in wanted:
                if "://" in relative or relative.startswith("azureml:"):
                    continue
                want = {"model": "any", "code folder": "folder",
                        "build context": "folder"}.get(what, "file")
                if (relative, want) not in checked:  # deployments share their folders
                    try:
                        path = resolve(root, relative)
                        checked[relative, want] = kind_problem(path, want) or (
                            _entries_problem(root, relative)
                            if what in ("model", "code folder") and not in_tree(path) else "")
                    except PathProblem as exc:
                        checked[relative, want] = f"!{exc}"
                problem = checked[relative, want]
                if problem.startswith("!"):
                    found.append(error(codes.PATH_NOT_FOUND, dep.source.at(field),
                                       f"{what}: {problem[1:]}."))
                    continue
                if problem == "does not exist" and what == "Dockerfile":
                    continue  # contained is what matters here; the build says it is missing
                if problem == "does not exist":
                    base = ("code_configuration.code, as Azure resolves it"
                            if what == "scoring script" else "the YAML file")
                    found.append(error(codes.PATH_NOT_FOUND, dep.source.at(field),
                                       f"{what} '{relative}' does not exist; fix the path "
                                       f"(relative to {base})."))
                elif problem:
                    found.append(error(codes.PATH_NOT_FOUND, dep.source.at(field),
                                       f"{what} '{relative}' {problem}; fix the path."))
    return found


def _entries_problem(root: Path, relative: str) -> str:
    """"" when every entry of a model or code folder is contained (``files_below``), else
    "!" and the problems, for ``check_paths`` to name at the field that named the folder."""
    problems = files_below(root, relative, max_entries=MAX_CHECKED_ENTRIES)[1]
    if not problems:
        return ""
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return "!" + "; ".join(problems[:3]) + more


def load_paths(paths: list[str], cwd: Path, settings: Settings) -> Loaded:
    """Plan plain Azure ML YAML files or folders, no stack: spec only, paths not checked."""
    found: list[Diagnostic] = []
    sources = collect_sources(paths, cwd, found)
    result = parse(sources)
    return Loaded(with_conda_packages(result.endpoints, cwd), settings,
                  (*found, *result.diagnostics), skipped=result.skipped)


@dataclass(frozen=True)
class StackSettings:
    """A stack file read and validated: settings, their problems, the document (for lines)."""

    settings: Settings
    diagnostics: tuple[Diagnostic, ...]
    document: YamlDocument | None
    shown: str
    #: ``mlplan:`` keys set by the engine's config, not by the stack file (no line to show)
    elsewhere: frozenset[str] = frozenset()

    def at(self, path: FieldPath, field: str) -> Location:
        """Where the setting at ``path`` (``("config", "mlplan:endpoints", 0)``) was given."""
        if (len(path) > 1 and path[1] in self.elsewhere) or self.document is None:
            return Location("", 0, field)
        return Location(self.shown, self.document.line_of(path), field)


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
    try:
        text = read_text(stack_file)
    except PathProblem as exc:
        return StackSettings(Settings(file=shown), (error(codes.SETTINGS, Location(shown),
                                                          f"{exc}."),), None, shown)
    loaded = parse_yaml(text)
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
        # `pulumi config set mlplan:quota '{"total": 10}'` (or `-c`) writes the object as text;
        # the engine hands it to the program as that JSON, which it reads as the object
        for key, value in config.items():
            if isinstance(key, str) and key.startswith(NAMESPACE):
                config[key] = json_text(value)
        register_secrets(config.get("mlplan:keys"))
    settings, found = from_stack_document(document, shown, registry.settings_parsers())
    found[:0] = problems
    return StackSettings(replace(settings, file=shown), tuple(found), document, shown)


def register_secrets(value: Any) -> None:
    """Every text under ``mlplan:keys`` is masked in all output (``render.safe``)."""
    from mlplan.render import safe

    if isinstance(value, str):
        safe.register_secret(value)
    elif isinstance(value, dict):
        for item in value.values():
            register_secrets(item)
    elif isinstance(value, list):
        for item in value:
            register_secrets(item)


def _check_key_endpoints(settings: Settings, endpoints: tuple[Endpoint, ...],
                         read: StackSettings) -> list[Diagnostic]:
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
        found.append(error(codes.SETTINGS, read.at(("config", "mlplan:keys", name),
                                                   f"mlplan:keys.{name}"),
                           f"endpoint '{name}' is not declared, so these keys would be unused; "
                           f"{hint}fix the name (endpoints: {', '.join(declared) or 'none'})."))
    return found


def load_stack(root: Path, stack: str, config: Mapping[str, Any] | None = None) -> Loaded:
    """Read ``Pulumi.<stack>.yaml`` (or, given ``config``, the engine's ``mlplan:*`` values:
    ``settings_from_config``), its endpoint files, and check the paths they name."""
    read = load_settings(root, stack) if config is None else settings_from_config(
        root, stack, config)
    settings, document = read.settings, read.document
    found: list[Diagnostic] = list(read.diagnostics)
    if document is None:
        return Loaded((), settings, tuple(found), stack)
    paths = [(name, read.at(("config", "mlplan:endpoints", index),
                             f"mlplan:endpoints[{index}]"))
             for index, name in enumerate(settings.endpoint_paths)]
    loaded = load_endpoints(root, settings, paths, (), found)
    found = list(loaded.diagnostics)
    found.extend(_check_key_endpoints(settings, loaded.endpoints, read))
    found.extend(_check_written_paths(root, settings, read))
    return Loaded(loaded.endpoints, settings, tuple(found), stack, loaded.skipped)


def _check_written_paths(root: Path, settings: Settings, read: StackSettings
                         ) -> list[Diagnostic]:
    """What mlplan writes for the project stays in it: ``mlplan:kubernetes.renderYamlTo`` is
    contained (``resolve``) like every path read. Its manifests hold no secret value: the
    Secrets they reference are a secret stack output the user must apply (a warning says how)."""
    from mlplan.targets.kubernetes import settings as kubernetes_settings

    if settings.target != "kubernetes":
        return []
    found: list[Diagnostic] = []
    chosen = kubernetes_settings.of(settings)
    if chosen.withhold_secrets and not chosen.render_yaml_to:  # set by hand, applying
        found.append(error(codes.SETTINGS, read.at(
            ("config", "mlplan:kubernetes", "withholdSecrets"),
            "mlplan:kubernetes.withholdSecrets"),
            "withholdSecrets is mlplan's own (its program sets it for the endpoints of a stack "
            "with renderYamlTo, whose Secrets stay out of the manifests); remove it: applied "
            "without its Secrets, every Deployment would wait for them."))
    target = chosen.render_yaml_to
    if not target:
        return found
    where = read.at(("config", "mlplan:kubernetes", "renderYamlTo"),
                    "mlplan:kubernetes.renderYamlTo")
    try:
        resolve(root, target)
    except PathProblem as exc:
        return [*found, error(codes.SETTINGS_PATH, where, f"{exc}.")]
    return [*found, warning(codes.SETTINGS_PATH, where,
                    f"manifests written to '{target}' reference the endpoint keys' and the "
                    "deployments' environment Secrets without holding them; after `pulumi up` "
                    "create them with `pulumi stack output --show-secrets <endpoint>-secrets | "
                    "kubectl apply -f -` (or seal that output with kubeseal or sops).")]


def load_endpoints(root: Path, settings: Settings, paths: Sequence[tuple[str, Location]],
                   values: Sequence[SourceValue] = (),
                   found: Sequence[Diagnostic] = (), only: str | None = None) -> Loaded:
    """The endpoints of YAML files or folders (each with the ``Location`` that named it) and
    of documents given as values, with ``found`` and every problem of theirs: the spec, the
    assets they name (``mlplan:assets``) and the paths inside them (relative to ``root``).
    ``only``: the documents of that endpoint alone (``spec.parse``)."""
    problems = list(found)
    sources: list[SourceText | SourceValue] = []
    for name, where in paths:
        sources.extend(collect_sources([name], root, problems, where))
    sources.extend(values)
    result = parse(sources, only)
    problems.extend(result.diagnostics)
    # models the target serves from a volume (``mlplan:kubernetes`` models, typed)
    served = registry.of(settings.target).served_models(settings)
    problems.extend(assets.check(result.endpoints, settings.assets, served))
    problems.extend(check_paths(result.endpoints, root, settings.assets))
    return Loaded(with_conda_packages(result.endpoints, root), settings, tuple(problems),
                  skipped=result.skipped)


def with_conda_packages(endpoints: tuple[Endpoint, ...], root: Path) -> tuple[Endpoint, ...]:
    """``endpoints`` with each conda file's packages read (``EnvironmentRef.conda_packages``),
    so the plan can name what an image must already hold (MLP133). A file that cannot be read
    or parsed adds nothing here: ``check_paths`` and the spec report it."""
    from mlplan.domain.spec import conda_packages

    read: dict[str, tuple[str, ...]] = {}

    def packages(relative: str) -> tuple[str, ...]:
        if relative not in read:
            read[relative] = ()
            try:
                loaded = parse_yaml(read_text(resolve(root, relative)))
            except (OSError, ValueError, PathProblem):
                return ()
            if loaded.documents and not loaded.syntax_error:
                read[relative] = conda_packages(loaded.documents[0].value)
        return read[relative]

    def deployment(dep: Any) -> Any:
        env = dep.environment
        if env is None or not env.conda_file or "://" in env.conda_file \
                or env.conda_file.startswith("azureml:"):
            return dep
        return replace(dep, environment=replace(env, conda_packages=packages(env.conda_file)))

    return tuple(replace(e, deployments=tuple(deployment(d) for d in e.deployments))
                 if any(d.environment and d.environment.conda_file for d in e.deployments)
                 else e for e in endpoints)


def settings_from_config(root: Path, stack: str, config: Mapping[str, Any]) -> StackSettings:
    """Settings from the values the engine hands the program (``pulumi.Config("mlplan")``:
    ``-c``, ``pulumi config set``, ESC, the Automation API), read by the same parser as the
    stack file (``from_stack_document``). ``config`` maps each ``mlplan:`` key without its
    namespace to its value (``{"quota": {"total": 100}}``).

    A key whose value is the one in ``Pulumi.<stack>.yaml`` keeps that file's lines in
    diagnostics (``stacks/Pulumi.dev.yaml:12 mlplan:quota.total``); a key set another way is
    named alone (``mlplan:quota.total: error MLP120 ...``), as no file holds it.
    """
    from_file = load_settings(root, stack)
    file_config: dict[str, Any] = {}
    if from_file.document is not None and isinstance(from_file.document.value, dict):
        section = from_file.document.value.get("config")  # decoded (json_text) by load_settings
        file_config = section if isinstance(section, dict) else {}
    values: dict[str, Any] = {}
    lines: dict[FieldPath, int] = {}
    elsewhere: set[str] = set()
    for short, value in sorted(config.items()):
        key = NAMESPACE + short
        if key in file_config and _same_config_value(file_config[key], value):
            values[key] = file_config[key]
            assert from_file.document is not None
            lines.update({path: line for path, line in from_file.document.lines.items()
                          if path[:2] == ("config", key)})
        else:
            values[key] = value
            elsewhere.add(key)
    register_secrets(values.get(NAMESPACE + "keys"))
    shown = from_file.shown
    document = YamlDocument(value={"config": values}, line=0, lines=lines)
    settings, found = from_stack_document(document, shown, registry.settings_parsers())
    moved = tuple(_config_location(d, shown, elsewhere) for d in found)
    return StackSettings(replace(settings, file=shown), moved, document, shown,
                         frozenset(elsewhere))


def _same_config_value(in_file: Any, given: Any) -> bool:
    """Is the engine's value the file's? Top-level scalars reach a program as text
    (``total: 100`` in a mapping stays a number; ``mlplan:x: 100`` arrives as ``"100"``)."""
    if in_file == given:
        return True
    return not isinstance(in_file, dict | list) and isinstance(given, str) and (
        str(in_file).lower() if isinstance(in_file, bool) else str(in_file)) == given


def _config_location(found: Diagnostic, shown: str, elsewhere: set[str]) -> Diagnostic:
    """``found`` pointing at the config key alone when that key is not from ``shown``."""
    where = found.location
    top = where.field.split(".")[0].split("[")[0]
    if where.file == shown and top in elsewhere:
        return replace(found, location=Location("", 0, where.field))
    return found


def config_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``mlplan:*`` config as the engine stores it (text; JSON for objects and lists) ->
    ``{key without namespace: value}`` (``json_text``)."""
    return {key[len(NAMESPACE):]: json_text(value) for key, value in raw.items()
            if key.startswith(NAMESPACE)}


def json_text(value: Any) -> Any:
    """A config text that is a JSON object or list -> that object; anything else as it is
    (``docker`` stays text, as the stack file's parser reads it). ``'{"total": 10}'`` ->
    ``{"total": 10}``; ``'{oops'`` stays text (the parser then says it is no mapping)."""
    import contextlib
    import json

    if isinstance(value, str) and value[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            decoded = json.loads(value)
            if isinstance(decoded, dict | list):
                return decoded
    return value
