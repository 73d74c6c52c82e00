"""Domain values after parsing: endpoints and deployments with Azure's defaults filled in.

Everything is frozen; percents, counts and milliseconds are integers. Paths (model, code,
conda file) are project-relative POSIX paths resolved against the YAML file that named them.
Each value keeps where it came from (``source`` file and the line of each field) so that later
rules can point at ``blue.yml:12 instance_count``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from mlplan.domain.diagnostics import Location

DeploymentKind = Literal["managed", "kubernetes"]
AuthMode = Literal["key", "aml_token", "aad_token"]
ScaleType = Literal["default", "target_utilization"]


@dataclass(frozen=True)
class Source:
    """File of a document and the 1-based line of each dotted field in it."""

    file: str = ""
    line: int = 0
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)

    def at(self, field_path: str = "") -> Location:
        """Location of ``field_path`` (or of its closest parent that has a line)."""
        probe = field_path
        while probe:
            if probe in self.lines:
                return Location(self.file, self.lines[probe], field_path)
            probe = probe.rpartition(".")[0]
        return Location(self.file, self.line, field_path)


def skips(skipped: frozenset[str], *fields: str) -> bool:
    """True if any of ``fields`` or a field under one was skipped.

    Example: ``skips({"request_settings.request_timeout_ms"}, "request_settings")`` is True;
    ``skips({"tags.a"}, "traffic")`` is False.
    """
    return any(s == f or s.startswith((f"{f}.", f"{f}[")) for s in skipped for f in fields)


@dataclass(frozen=True)
class Probe:
    """Azure defaults: initial_delay 10 s, period 10 s, timeout 2 s, success 1, failure 30."""

    initial_delay: int = 10
    period: int = 10
    timeout: int = 2
    success_threshold: int = 1
    failure_threshold: int = 30


@dataclass(frozen=True)
class RequestSettings:
    """Azure defaults: 5000 ms timeout, 1 concurrent request per instance, 500 ms queue wait."""

    request_timeout_ms: int = 5000
    max_concurrent_requests_per_instance: int = 1
    max_queue_wait_ms: int = 500


@dataclass(frozen=True)
class ScaleSettings:
    """``default`` keeps instance_count; ``target_utilization`` autoscales between min and max."""

    type: ScaleType = "default"
    min_instances: int = 1
    max_instances: int = 1
    target_utilization_percentage: int = 70
    polling_interval: int = 1


@dataclass(frozen=True)
class ModelRef:
    """Either a registered asset (``azureml:name:version``) or a local ``path``."""

    reference: str = ""
    path: str = ""
    name: str = ""
    version: str = ""
    type: str = ""


@dataclass(frozen=True)
class Route:
    path: str
    port: int


@dataclass(frozen=True)
class EnvironmentRef:
    """A registered environment (``azureml:name:version``) or an inline image/build/conda file."""

    reference: str = ""
    image: str = ""
    conda_file: str = ""
    build_path: str = ""
    dockerfile_path: str = ""
    liveness_route: Route | None = None
    readiness_route: Route | None = None
    scoring_route: Route | None = None
    #: the conda file's packages (inline, or read by the edge from ``conda_file``): what the
    #: image must already hold off Azure, e.g. ``("python=3.10", "scikit-learn=1.5.1")``
    conda_packages: tuple[str, ...] = field(default=(), compare=False, hash=False)
    conda_inline: bool = False  # ``conda_file`` given as a mapping, not a path


@dataclass(frozen=True)
class CodeConfiguration:
    code: str
    scoring_script: str


@dataclass(frozen=True)
class KubernetesResources:
    """A Kubernetes deployment's ``resources``; CPU in millicores, memory in MiB, 0 = unset."""

    requests_cpu_millis: int = 0
    requests_memory_mib: int = 0
    limits_cpu_millis: int = 0
    limits_memory_mib: int = 0
    limits_gpus: int = 0


@dataclass(frozen=True)
class Deployment:
    name: str
    endpoint_name: str
    kind: DeploymentKind
    instance_type: str
    instance_count: int
    model: ModelRef | None = None
    model_mount_path: str = ""
    code_configuration: CodeConfiguration | None = None
    environment: EnvironmentRef | None = None
    environment_variables: tuple[tuple[str, str], ...] = ()
    request_settings: RequestSettings = RequestSettings()
    liveness_probe: Probe = Probe()
    readiness_probe: Probe = Probe()
    scale_settings: ScaleSettings = ScaleSettings()
    resources: KubernetesResources | None = None
    app_insights_enabled: bool = False
    egress_public_network_access: str = "enabled"
    data_collector: bool = False  # ``data_collector`` declared (Azure's data collection)
    description: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    source: Source = Source()
    #: dotted paths of fields that failed their schema check: reported, then left at Azure's
    #: default so the rest is still checked; rules that read them stay silent (see ``skips``)
    skipped: frozenset[str] = field(default=frozenset(), compare=False, hash=False)


@dataclass(frozen=True)
class Endpoint:
    name: str
    kind: DeploymentKind
    auth_mode: AuthMode = "key"
    traffic: tuple[tuple[str, int], ...] = ()
    mirror_traffic: tuple[tuple[str, int], ...] = ()
    traffic_declared: bool = False
    description: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    compute: str = ""
    public_network_access: str = "enabled"
    identity: str = ""  # ``identity.type`` as declared ("" = none declared)
    deployments: tuple[Deployment, ...] = ()
    source: Source = Source()
    skipped: frozenset[str] = field(default=frozenset(), compare=False, hash=False)
    #: deployments declared for this endpoint whose files were reported unusable (e.g. no
    #: ``name``): traffic naming them is not "undeclared"; ``"*"`` when a name is unknown
    unusable_deployments: frozenset[str] = field(default=frozenset(), compare=False, hash=False)

    def deployment(self, name: str) -> Deployment | None:
        return next((d for d in self.deployments if d.name == name), None)

    @property
    def traffic_map(self) -> dict[str, int]:
        return dict(self.traffic)

    @property
    def mirror_map(self) -> dict[str, int]:
        return dict(self.mirror_traffic)
