"""core.diff: actions, field effects, rollout steps, promotion stages, quota rows. Tables of
named scenarios over in-memory desired states (no files)."""

from __future__ import annotations

import itertools
from textwrap import dedent
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlplan.domain import codes
from mlplan.domain.settings import Settings
from mlplan.domain.spec import SourceText, parse
from mlplan.edge.pipeline import planned
from mlplan.planning import rollout
from mlplan.planning.diff import (
    Action,
    DeploymentChange,
    Effect,
    Roll,
    Share,
    StackChanges,
    Stage,
    field_changes,
    review,
    stage_of,
)
from mlplan.planning.quota import reserved_instances
from mlplan.planning.state import DesiredState
from mlplan.targets import registry

QUOTA = {"standardDSv2Family": 200_000, "total": 500_000}


def dep(name: str, count: int = 3, image: str = "example/scorer:1",
        sku: str = "Standard_DS3_v2", extra: str = "") -> str:
    return dedent(f"""\
        name: {name}
        endpoint_name: my-endpoint
        instance_type: {sku}
        instance_count: {count}
        environment: {{image: "{image}"}}
        """) + extra


def state(traffic: dict[str, int], deployments: dict[str, str],
          mirror: dict[str, int] | None = None, target: str = "docker",
          files: dict[str, str] | None = None) -> DesiredState:
    """One endpoint ``my-endpoint``; deployment ``name`` lives in ``ep/<name>.yml`` unless
    ``files`` says otherwise."""
    def flow(mapping: dict[str, int]) -> str:
        return "{" + ", ".join(f"{n}: {p}" for n, p in mapping.items()) + "}"

    endpoint = f"name: my-endpoint\ntraffic: {flow(traffic)}\n"
    if mirror:
        endpoint += f"mirror_traffic: {flow(mirror)}\n"
    sources = [SourceText("ep/endpoint.yml", endpoint)]
    sources += [SourceText((files or {}).get(n, f"ep/{n}.yml"), text)
                for n, text in deployments.items()]
    result = parse(sources)
    assert not result.diagnostics, result.diagnostics
    return planned(result.endpoints, Settings(target=target, quota_millis=QUOTA),
                   result.diagnostics)


def only_deployment(changes: StackChanges, name: str) -> DeploymentChange:
    (endpoint,) = changes.endpoints
    return next(d for d in endpoint.deployments if d.name == name)


BLUE = dep("blue")
K8S = "kubernetes"

# (name, base, head, endpoint action, {deployment: action})
ACTIONS = [
    ("identical states", state({"blue": 100}, {"blue": BLUE}),
     state({"blue": 100}, {"blue": BLUE}), Action.NO_OP, {"blue": Action.NO_OP}),
    ("new deployment", state({"blue": 100}, {"blue": BLUE}),
     state({"blue": 100, "green": 0}, {"blue": BLUE, "green": dep("green")}),
     Action.UPDATE, {"blue": Action.NO_OP, "green": Action.CREATE}),
    ("deleted deployment", state({"blue": 0, "green": 100}, {"blue": BLUE, "green": dep("green")}),
     state({"green": 100}, {"green": dep("green")}),
     Action.UPDATE, {"blue": Action.DELETE, "green": Action.NO_OP}),
    ("traffic only", state({"blue": 100, "green": 0}, {"blue": BLUE, "green": dep("green")}),
     state({"blue": 90, "green": 10}, {"blue": BLUE, "green": dep("green")}),
     Action.UPDATE, {"blue": Action.NO_OP, "green": Action.NO_OP}),
    ("image change on docker: surge roll", state({"blue": 100}, {"blue": BLUE}),
     state({"blue": 100}, {"blue": dep("blue", image="example/scorer:2")}),
     Action.NO_OP, {"blue": Action.CREATE_THEN_DELETE}),
    ("image change of an exempt SKU on docker: delete-first roll, no surge quota",
     state({"blue": 100}, {"blue": dep("blue", sku="Standard_NC24ads_A100_v4")}),
     state({"blue": 100}, {"blue": dep("blue", image="example/scorer:2",
                                       sku="Standard_NC24ads_A100_v4")}),
     Action.NO_OP, {"blue": Action.DELETE_THEN_CREATE}),
    ("image change on kubernetes: surge roll", state({"blue": 100}, {"blue": BLUE}, target=K8S),
     state({"blue": 100}, {"blue": dep("blue", image="example/scorer:2")}, target=K8S),
     Action.NO_OP, {"blue": Action.CREATE_THEN_DELETE}),
    ("image change of an exempt SKU on kubernetes: delete-first roll, no surge quota",
     state({"blue": 100}, {"blue": dep("blue", sku="Standard_NC24ads_A100_v4")}, target=K8S),
     state({"blue": 100}, {"blue": dep("blue", image="example/scorer:2",
                                       sku="Standard_NC24ads_A100_v4")}, target=K8S),
     Action.NO_OP, {"blue": Action.DELETE_THEN_CREATE}),
    ("instance type change rolls", state({"blue": 100}, {"blue": BLUE}),
     state({"blue": 100}, {"blue": dep("blue", sku="Standard_NC6s_v3")}),
     Action.NO_OP, {"blue": Action.CREATE_THEN_DELETE}),
    ("scale only updates in place", state({"blue": 100}, {"blue": BLUE}),
     state({"blue": 100}, {"blue": dep("blue", 10)}), Action.UPDATE, {"blue": Action.UPDATE}),
    ("request timeout is a router setting", state({"blue": 100}, {"blue": BLUE}),
     state({"blue": 100}, {"blue": dep("blue", extra="request_settings: "
                                                     "{request_timeout_ms: 9000}\n")}),
     Action.UPDATE, {"blue": Action.UPDATE}),
    ("concurrency sets the worker count: rolls", state({"blue": 100}, {"blue": BLUE}),
     state({"blue": 100}, {"blue": dep("blue", extra=(
         "request_settings: {max_concurrent_requests_per_instance: 2}\n"))}),
     Action.UPDATE, {"blue": Action.CREATE_THEN_DELETE}),
    ("probe change on docker is in place", state({"blue": 100}, {"blue": BLUE}),
     state({"blue": 100}, {"blue": dep("blue", extra="readiness_probe: {period: 5}\n")}),
     Action.NO_OP, {"blue": Action.UPDATE}),
    ("probe change on kubernetes rolls", state({"blue": 100}, {"blue": BLUE}, target=K8S),
     state({"blue": 100}, {"blue": dep("blue", extra="readiness_probe: {period: 5}\n")},
           target=K8S),
     Action.NO_OP, {"blue": Action.CREATE_THEN_DELETE}),
    ("tags are metadata", state({"blue": 100}, {"blue": BLUE}),
     state({"blue": 100}, {"blue": dep("blue", extra="tags: {team: ml}\n")}),
     Action.NO_OP, {"blue": Action.UPDATE}),
    ("rename in the same file", state({"blue": 100}, {"blue": BLUE}),
     state({"blue2": 100}, {"blue2": dep("blue2")}, files={"blue2": "ep/blue.yml"}),
     Action.UPDATE, {"blue2": Action.CREATE_THEN_DELETE}),
    ("rename with identical settings in another file", state({"blue": 100}, {"blue": BLUE}),
     state({"blue2": 100}, {"blue2": dep("blue2")}),
     Action.UPDATE, {"blue2": Action.CREATE_THEN_DELETE}),
    ("new name with other settings is create + delete", state({"blue": 100}, {"blue": BLUE}),
     state({"blue2": 100}, {"blue2": dep("blue2", 4)}),
     Action.UPDATE, {"blue": Action.DELETE, "blue2": Action.CREATE}),
    ("target switch replaces everything", state({"blue": 100}, {"blue": BLUE}),
     state({"blue": 100}, {"blue": BLUE}, target=K8S),
     Action.CREATE_THEN_DELETE, {"blue": Action.CREATE_THEN_DELETE}),
    ("stack missing at base", None, state({"blue": 100}, {"blue": BLUE}),
     Action.CREATE, {"blue": Action.CREATE}),
    ("stack missing at head", state({"blue": 100}, {"blue": BLUE}), None,
     Action.DELETE, {"blue": Action.DELETE}),
]


@pytest.mark.parametrize(("name", "base", "head", "endpoint_action", "deployment_actions"),
                         ACTIONS, ids=[a[0] for a in ACTIONS])
def test_actions(name: str, base: DesiredState | None, head: DesiredState | None,
                 endpoint_action: Action, deployment_actions: dict[str, Action]) -> None:
    changes = review(base, head)
    (endpoint,) = changes.endpoints
    assert endpoint.action is endpoint_action
    assert {d.name: d.action for d in endpoint.deployments} == deployment_actions
    changed = endpoint_action is not Action.NO_OP or any(
        a is not Action.NO_OP for a in deployment_actions.values())
    assert changes.has_changes is changed and endpoint.has_changes is changed


def test_roll_schedules_follow_the_target() -> None:
    base = state({"blue": 100}, {"blue": dep("blue", 10)})
    head = state({"blue": 100}, {"blue": dep("blue", 10, image="example/scorer:2")})
    docker = only_deployment(review(base, head), "blue").roll
    assert docker is not None
    assert docker.describe() == "10 instances: 5 batches of 2, peak 12, at least 10 serving"
    assert docker.batches[0] == ("my-endpoint-blue-0", "my-endpoint-blue-1")
    k8s = only_deployment(review(state({"blue": 100}, {"blue": dep("blue", 10)}, target=K8S),
                               state({"blue": 100}, {"blue": dep("blue", 10, "example/scorer:2")},
                                     target=K8S)), "blue").roll
    assert k8s is not None
    assert k8s.describe() == "10 instances: 5 batches of 2, peak 12, at least 10 serving"


A100 = "Standard_NC24ads_A100_v4"
# (name, sku, N, order, peak, fewest serving, reason fragment): what the Deployment controller
# did on a real API server with the manifests of kubernetes_objects.rolling_strategy.
K8S_ROLLS = [
    ("surging SKU: one batch extra", "Standard_DS3_v2", 10, Action.CREATE_THEN_DELETE, 12, 10,
     "maxSurge 20%, maxUnavailable 0"),
    ("exempt SKU: one batch out, never above N", A100, 10, Action.DELETE_THEN_CREATE, 10, 8,
     "maxSurge 0, maxUnavailable one batch"),
    ("exempt SKU, 3 instances", A100, 3, Action.DELETE_THEN_CREATE, 3, 2,
     "maxSurge 0, maxUnavailable one batch"),
]


@pytest.mark.parametrize(("name", "sku", "n", "order", "peak", "serving", "why"), K8S_ROLLS,
                         ids=[r[0] for r in K8S_ROLLS])
def test_kubernetes_roll_matches_the_manifests(name: str, sku: str, n: int, order: Action,
                                               peak: int, serving: int, why: str) -> None:
    """Review's roll of an image change on Kubernetes is the manifests' strategy: peak and
    fewest serving pods equal what the quota reserved (N + batch, or N when exempt)."""
    base = state({"blue": 100}, {"blue": dep("blue", n, sku=sku)}, target=K8S)
    head = state({"blue": 100}, {"blue": dep("blue", n, "example/scorer:2", sku=sku)},
                 target=K8S)
    change = only_deployment(review(base, head), "blue")
    roll = change.roll
    assert roll is not None
    assert (change.action, roll.order, roll.peak, roll.min_in_service) == \
        (order, order, peak, serving)
    assert roll.peak == reserved_instances(n, exempt=sku == A100)
    assert any(why in reason for reason in change.reasons), change.reasons


# (name, sku, before, after, peak, fewest serving, batches by instance index, verbs per batch,
# reason fragment): what Docker does (targets/docker/plan.py: the surge batch is new containers
# created first, later batches are replaced delete-first while it stands in, its old
# containers go at the end of the update; exempt: every batch delete-first)
DOCKER_ROLLS = [
    ("ten instances: surge batch first", "Standard_DS3_v2", 10, 10, 12, 10,
     [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]],
     [("create", "delete")] + [("delete", "create")] * 4, "healthy and routed before"),
    ("one instance keeps serving", "Standard_DS3_v2", 1, 1, 2, 1, [[0]],
     [("create", "delete")], "healthy and routed before"),
    ("scale 3 -> 10 with a new image: only 0-2 are replaced", "Standard_DS3_v2", 3, 10, 12, 10,
     [[0, 1], [2]], [("create", "delete"), ("delete", "create")], "healthy and routed before"),
    ("scale 10 -> 3 with a new image: the three kept are replaced", "Standard_DS3_v2", 10, 3,
     4, 3, [[0], [1], [2]], [("create", "delete")] + [("delete", "create")] * 2,
     "healthy and routed before"),
    ("exempt SKU: one batch out, never above N", A100, 10, 10, 10, 8,
     [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]], [("delete", "create")] * 5,
     "exempt from the 20% surge reservation"),
    ("exempt SKU, one instance: down while replaced", A100, 1, 1, 1, 0, [[0]],
     [("delete", "create")], "does not answer while it is replaced"),
]


@pytest.mark.parametrize(("name", "sku", "before", "after", "peak", "serving", "batches",
                          "verbs", "why"), DOCKER_ROLLS, ids=[r[0] for r in DOCKER_ROLLS])
def test_docker_roll_is_what_the_containers_do(
        name: str, sku: str, before: int, after: int, peak: int, serving: int,
        batches: list[list[int]], verbs: list[tuple[str, ...]], why: str) -> None:
    """Review's Docker roll: surge unless exempt (peak N + batch = the quota's reservation, at
    least N serving), per batch what happens to its containers, and only the instances that
    exist before the change listed as replaced."""
    base = state({"blue": 100}, {"blue": dep("blue", before, sku=sku)})
    head = state({"blue": 100}, {"blue": dep("blue", after, "example/scorer:2", sku=sku)})
    change = only_deployment(review(base, head), "blue")
    roll = change.roll
    assert roll is not None
    assert (roll.peak, roll.min_in_service) == (peak, serving)
    assert roll.peak == reserved_instances(after, exempt=sku == A100)
    assert roll.batches == tuple(tuple(f"my-endpoint-blue-{i}" for i in b) for b in batches)
    assert [roll.verbs_of(i) for i in range(len(roll.batches))] == verbs
    assert any(why in reason for reason in change.reasons), change.reasons


REGROUPS = [
    # name, sku, before, after, reason fragment ("" = no such reason)
    ("5 -> 6: batches of 1 -> 2, instance 1 joins the surge batch", "Standard_DS3_v2", 5, 6,
     "my-endpoint-blue-1 joins the surge batch (batches of 1 -> 2): recreated"),
    ("3 -> 10: instance 1 joins (2-9 are new)", "Standard_DS3_v2", 3, 10,
     "my-endpoint-blue-1 joins the surge batch"),
    ("11 -> 5: instances 1 and 2 leave it", "Standard_DS3_v2", 11, 5,
     "my-endpoint-blue-1 .. my-endpoint-blue-2 leave the surge batch (batches of 3 -> 1)"),
    ("3 -> 4: same batch size, nothing recreated", "Standard_DS3_v2", 3, 4, ""),
    ("exempt SKU: no surge batch", A100, 5, 6, ""),
]


@pytest.mark.parametrize(("name", "sku", "before", "after", "why"), REGROUPS,
                         ids=[r[0] for r in REGROUPS])
def test_docker_scaling_says_which_instances_the_surge_batch_recreates(
        name: str, sku: str, before: int, after: int, why: str) -> None:
    """On Docker the surge batch's containers are named by revision, so an instance that
    joins or leaves the first batch when scaling changes the batch size is recreated (create
    first): review says so, and nothing else is replaced."""
    base = state({"blue": 100}, {"blue": dep("blue", before, sku=sku)})
    head = state({"blue": 100}, {"blue": dep("blue", after, sku=sku)})
    change = only_deployment(review(base, head), "blue")
    assert change.roll is None
    found = [r for r in change.reasons if "surge batch" in r]
    if why:
        assert len(found) == 1 and why in found[0], change.reasons
    else:
        assert not found, change.reasons


def test_scale_with_a_roll_scales_first_and_warns_mlp301() -> None:
    changes = review(state({"blue": 100}, {"blue": BLUE}),
                   state({"blue": 100}, {"blue": dep("blue", 10, image="example/scorer:2")}))
    blue = only_deployment(changes, "blue")
    assert [s.describe() for s in blue.steps] == [
        "scale 3 -> 10", "10 instances: 5 batches of 2, peak 12, at least 10 serving"]
    # 3-9 are created by the scale step with the new image: only 0-2 are replaced
    assert blue.roll is not None and blue.roll.batches == (
        ("my-endpoint-blue-0", "my-endpoint-blue-1"), ("my-endpoint-blue-2",))
    (warning,) = [d for d in changes.diagnostics if d.code == codes.SCALE_WITH_ROLL]
    assert warning.path == "ep/blue.yml:4 instance_count"
    assert "scaling runs first" in warning.message


def test_scale_alone_has_no_mlp301_and_names_the_new_instances() -> None:
    changes = review(state({"blue": 100}, {"blue": BLUE}),
                   state({"blue": 100}, {"blue": dep("blue", 5)}))
    blue = only_deployment(changes, "blue")
    assert [s.kind for s in blue.steps] == ["scale"]
    assert blue.reasons[0].startswith("scale 3 -> 5: 2 instances added "
                                      "(my-endpoint-blue-3 .. my-endpoint-blue-4)")
    assert not [d for d in changes.diagnostics if d.code == codes.SCALE_WITH_ROLL]


def test_deleting_a_live_deployment_says_traffic_moves_first() -> None:
    changes = review(state({"blue": 90, "green": 10}, {"blue": BLUE, "green": dep("green")}),
                   state({"green": 100}, {"green": dep("green")}))
    (endpoint,) = changes.endpoints
    assert endpoint.traffic.moves_before_delete == ("blue",)
    assert any("traffic moves first, delete after" in r for r in endpoint.reasons)
    blue = only_deployment(changes, "blue")
    assert any(r.startswith("blue had 90% live traffic: traffic moves first, delete after")
               for r in blue.reasons)
    assert endpoint.traffic.stages == ((Stage.RETIRED, "blue"), (Stage.PROMOTED, "green"))


def test_field_changes_are_dotted_and_secrets_masked() -> None:
    before = {"environment": {"image": "a:1"}, "environment_variables": {"API_KEY": "s1"},
              "instance_count": 3}
    after = {"environment": {"image": "a:2", "conda_file": "env.yml"},
             "environment_variables": {"API_KEY": "s2", "MODE": "fast"}, "instance_count": 3}
    assert field_changes(before, after) == [
        ("environment.conda_file", None, "env.yml"),
        ("environment.image", "a:1", "a:2"),
        ("environment_variables.API_KEY", "(sensitive)", "(sensitive)"),
        ("environment_variables.MODE", None, "fast"),
    ]


FIELD_CHANGES = [
    pytest.param({"a": 1}, {"a": 1}, [], id="equal"),
    pytest.param({"a": 1}, {"a": 1.0}, [], id="int-and-float-equal"),
    pytest.param({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}, [("a.c", 2, 3)],
                 id="nested-value"),
    pytest.param({}, {"a": {"b": 1, "c": {"d": "x"}}}, [("a.b", None, 1), ("a.c.d", None, "x")],
                 id="dict-added-gives-its-leaves"),
    pytest.param({"a": {"b": 1}}, {}, [("a.b", 1, None)], id="dict-removed"),
    pytest.param({"a": "s"}, {"a": {"b": 1}}, [("a", "s", None), ("a.b", None, 1)],
                 id="scalar-becomes-dict"),
    pytest.param({"a": [1, 2]}, {"a": [1, 3, 4]}, [("a.1", 2, 3), ("a.2", None, 4)],
                 id="list-item-by-item"),
    pytest.param({"a": None}, {}, [], id="none-is-absent"),
    pytest.param({"tags": {"db_password": "x"}}, {"tags": {"db_password": "y"}},
                 [("tags.db_password", "(sensitive)", "(sensitive)")], id="secret-masked"),
]


@pytest.mark.parametrize(("before", "after", "expected"), FIELD_CHANGES)
def test_field_changes_table(before: dict[str, Any], after: dict[str, Any],
                             expected: list[tuple[str, Any, Any]]) -> None:
    assert field_changes(before, after) == expected


CLASSIFY = [
    ("environment.image", "docker", Effect.ROLL),
    ("model.path", "kubernetes", Effect.ROLL),
    ("instance_count", "docker", Effect.SCALE),
    ("request_settings.request_timeout_ms", "docker", Effect.IN_PLACE),
    ("request_settings.max_concurrent_requests_per_instance", "kubernetes", Effect.ROLL),
    ("liveness_probe.period", "docker", Effect.IN_PLACE),
    ("liveness_probe.period", "kubernetes", Effect.ROLL),
    ("size.memory_mib", "docker", Effect.IN_PLACE),
    ("size.memory_mib", "kubernetes", Effect.ROLL),
    ("tags.team", "kubernetes", Effect.IN_PLACE),
    ("scale_settings.max_instances", "kubernetes", Effect.IN_PLACE),
]


@pytest.mark.parametrize(("path", "target", "effect"), CLASSIFY,
                         ids=[f"{c[0]} on {c[1]}" for c in CLASSIFY])
def test_classify(path: str, target: str, effect: Effect) -> None:
    assert registry.of(target).field_effect(path)[0] is effect


# (name, share, existed, exists, stage) -- the examples of Stage's docstring
STAGES = [
    ("created at 0%", Share(0, 0, 0, 0), False, True, Stage.NEW),
    ("mirrored 10%", Share(0, 0, 0, 10), True, True, Stage.MIRRORED),
    ("canary 0 -> 10", Share(0, 10, 0, 0), True, True, Stage.CANARY),
    ("canary 10 -> 50", Share(10, 50, 0, 0), True, True, Stage.CANARY),
    ("canary created at 10%", Share(0, 10, 0, 0), False, True, Stage.CANARY),
    ("promoted 10 -> 100", Share(10, 100, 0, 0), True, True, Stage.PROMOTED),
    ("rolled back 90 -> 100", Share(90, 100, 0, 0), True, True, Stage.ROLLED_BACK),
    ("drained 90 -> 0", Share(90, 0, 0, 0), True, True, Stage.DRAINED),
    ("mirror stopped drains", Share(0, 0, 10, 0), True, True, Stage.DRAINED),
    ("retired", Share(0, 0, 0, 0), True, False, Stage.RETIRED),
    ("falling share is no stage", Share(100, 90, 0, 0), True, True, None),
    ("unchanged", Share(90, 90, 0, 0), True, True, None),
]


@pytest.mark.parametrize(("name", "share", "existed", "exists", "expected"), STAGES,
                         ids=[s[0] for s in STAGES])
def test_stages(name: str, share: Share, existed: bool, exists: bool,
                expected: Stage | None) -> None:
    assert stage_of(share, existed, exists) is expected


def test_safe_rollout_sequence_reads_as_its_stages() -> None:
    """Azure's sequence: green at 0% -> mirror 10 -> 90/10 -> 0/100 -> delete blue."""
    green = dep("green")
    states = [
        state({"blue": 100}, {"blue": BLUE}),
        state({"blue": 100, "green": 0}, {"blue": BLUE, "green": green}),
        state({"blue": 100, "green": 0}, {"blue": BLUE, "green": green}, {"green": 10}),
        state({"blue": 90, "green": 10}, {"blue": BLUE, "green": green}),
        state({"blue": 0, "green": 100}, {"blue": BLUE, "green": green}),
        state({"green": 100}, {"green": green}),
    ]
    stages = [[s.value for s, _d in review(a, b).endpoints[0].traffic.stages]
              for a, b in itertools.pairwise(states)]
    assert stages == [["new at 0%"], ["mirrored"], ["canary"], ["promoted", "drained"],
                      ["retired"]]


def test_quota_peak_counts_a_renamed_deployment_twice() -> None:
    changes = review(state({"blue": 100}, {"blue": BLUE}),
                   state({"blue2": 100}, {"blue2": dep("blue2")}, files={"blue2": "ep/blue.yml"}))
    (family,) = changes.quota
    assert (family.before_millis, family.after_millis, family.peak_millis) == (
        16_000, 16_000, 32_000)
    assert (changes.quota_total.limit_after_millis, family.limit_after_millis) == (
        500_000, 200_000)


def test_a_peak_over_the_limit_while_the_change_runs_is_mlp403() -> None:
    """Renaming blue (16 cores) under a 20-core family limit: 16 before and after, but 32
    while blue2 starts and blue waits to be deleted."""
    from dataclasses import replace

    def limited(s: DesiredState) -> DesiredState:
        return replace(s, settings=replace(s.settings,
                                           quota_millis={"standardDSv2Family": 20_000}))

    fits = review(limited(state({"blue": 100}, {"blue": BLUE})),
                limited(state({"blue": 100}, {"blue": dep("blue", image="example/scorer:2")})))
    assert codes.QUOTA_PEAK not in {d.code for d in fits.diagnostics}
    renamed = review(limited(state({"blue": 100}, {"blue": BLUE})),
                   limited(state({"blue2": 100}, {"blue2": dep("blue2")},
                                 files={"blue2": "ep/blue.yml"})))
    (peak,) = [d for d in renamed.diagnostics if d.code == codes.QUOTA_PEAK]
    assert peak.severity.name == "ERROR"
    assert peak.location.field == "mlplan:quota.standardDSv2Family"
    assert "32 cores at the peak, limit 20 (after the change 16)" in peak.message


def test_verbs_round_trip() -> None:
    for action in Action:
        assert Action.from_verbs(action.verbs) is action
    assert Action.CREATE_THEN_DELETE.verbs == ("create", "delete")
    assert Action.DELETE_THEN_CREATE.symbol == "-/+"


@given(st.integers(min_value=1, max_value=500))
def test_roll_arithmetic(instances: int) -> None:
    """Surge peaks at exactly the quota reservation; delete-first never drops more than one
    batch and never exceeds N."""
    schedule = rollout.RolloutSchedule.of(instances)
    surge = Roll(schedule, Action.CREATE_THEN_DELETE, ())
    first = Roll(schedule, Action.DELETE_THEN_CREATE, ())
    assert surge.peak == reserved_instances(instances, exempt=False)
    assert surge.min_in_service == instances
    assert first.peak == instances
    assert first.min_in_service == instances - rollout.batch_size(instances)
    assert first.min_in_service >= (4 * instances) // 5 - 1


def test_renamed_endpoint_replaces_its_deployments_and_holds_both_reservations() -> None:
    def named(endpoint: str) -> DesiredState:
        result = parse([
            SourceText("ep/endpoint.yml", f"name: {endpoint}\ntraffic: {{blue: 100}}\n"),
            SourceText("ep/blue.yml", dep("blue").replace("my-endpoint", endpoint))])
        return planned(result.endpoints, Settings(), result.diagnostics)

    changes = review(named("my-endpoint"), named("new-endpoint"))
    (endpoint,) = changes.endpoints
    assert (endpoint.name, endpoint.renamed_from, endpoint.action) == (
        "new-endpoint", "my-endpoint", Action.CREATE_THEN_DELETE)
    assert [(d.name, d.action) for d in endpoint.deployments] == [
        ("blue", Action.CREATE_THEN_DELETE)]
    assert changes.quota_total.peak_millis == 2 * changes.quota_total.after_millis


def stack_settings(instance_types: str = "", assets: str = "") -> Settings:
    """Docker settings read from a stack file's text (custom sizes and assets, as given)."""
    from mlplan.domain.settings import from_stack_document
    from mlplan.domain.yamlsource import parse_yaml

    text = ("config:\n  mlplan:endpoints: [ep]\n"
            "  mlplan:quota: {total: 500, custom: 500, standardDSv2Family: 200}\n"
            + (f"  mlplan:instanceTypes: {instance_types}\n" if instance_types else "")
            + (f"  mlplan:assets: {assets}\n" if assets else ""))
    settings, problems = from_stack_document(parse_yaml(text).documents[0], "Pulumi.x.yaml",
                                             registry.settings_parsers())
    assert problems == []
    return settings


SMALL = "{small: {cpu: 1, memory: 2Gi}}"
ASSET_DEP = dep("blue", sku="small", extra="model: azureml:m:1\n").replace(
    'environment: {image: "example/scorer:1"}', "environment: azureml:e:1")
ASSETS_1 = '{models: {"azureml:m:1": m/one}, environments: {"azureml:e:1": "r.io/i:1"}}'
# name, base (deployment text, instance types, assets), head, deployment paths that change
SAME_OBJECT = [
    ("nothing changed", (ASSET_DEP, SMALL, ASSETS_1), (ASSET_DEP, SMALL, ASSETS_1), []),
    ("the custom size changed", (ASSET_DEP, SMALL, ASSETS_1),
     (ASSET_DEP, SMALL.replace("cpu: 1", "cpu: 2"), ASSETS_1), ["size.cores"]),
    ("the model asset changed", (ASSET_DEP, SMALL, ASSETS_1),
     (ASSET_DEP, SMALL, ASSETS_1.replace("m/one", "m/two")), ["model.resolved"]),
    ("the environment asset changed", (ASSET_DEP, SMALL, ASSETS_1),
     (ASSET_DEP, SMALL, ASSETS_1.replace("r.io/i:1", "r.io/i:2")), ["environment.resolved"]),
    ("the file changed", (ASSET_DEP, SMALL, ASSETS_1),
     (ASSET_DEP.replace("instance_count: 3", "instance_count: 4"), SMALL, ASSETS_1),
     ["instance_count"]),
]


@pytest.mark.parametrize(("name", "base", "head", "paths"), SAME_OBJECT,
                         ids=[s[0] for s in SAME_OBJECT])
def test_an_unchanged_file_is_compared_by_what_its_projection_reads(
        name: str, base: tuple[str, str, str], head: tuple[str, str, str], paths: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchanged file is one parsed object on both sides (``spec.parse`` reads it once);
    its projection is skipped only when the size and the assets it reads are equal too, so
    the changes are those of comparing both projections."""
    from mlplan.planning.diff import compare

    def side(text: str, sizes: str, assets: str) -> DesiredState:
        result = parse([SourceText("ep/endpoint.yml", "name: my-endpoint\ntraffic: {blue: 100}\n"),
                        SourceText("ep/blue.yml", text)])
        return planned(result.endpoints, stack_settings(sizes, assets), result.diagnostics)

    before, after = side(*base), side(*head)
    same = before.endpoints[0].deployments[0].deployment is after.endpoints[0].deployments[0]\
        .deployment
    assert same == (base[0] == head[0])
    fast = only_deployment(review(before, after), "blue")
    monkeypatch.setattr(compare, "_unchanged", lambda old, new: False)
    computed = only_deployment(review(before, after), "blue")
    assert fast == computed
    assert [c.path for c in fast.changes] == paths


def quota_by_definition(base: DesiredState | None, head: DesiredState | None
                        ) -> list[tuple[str, int, int, int]]:
    """Per family: the sums over every deployment of either side of its reservation in that
    family before, after, and the larger of the two (0 on a side where it is elsewhere)."""
    def table(s: DesiredState | None) -> dict[tuple[str, str], tuple[str, int]]:
        return {(e.name, d.name): (d.size.family or "custom", d.reserved_millis)
                for e in (s.endpoints if s else ()) for d in e.deployments}

    b, h = table(base), table(head)

    def part(t: dict[tuple[str, str], tuple[str, int]], key: tuple[str, str], f: str) -> int:
        return t[key][1] if key in t and t[key][0] == f else 0

    keys = set(b) | set(h)
    return [(f, sum(part(b, k, f) for k in keys), sum(part(h, k, f) for k in keys),
             sum(max(part(b, k, f), part(h, k, f)) for k in keys))
            for f in sorted({f for f, _m in (*b.values(), *h.values())})]


F4 = "Standard_F4s_v2"
QUOTA_ROWS = [
    ("created", None, state({"blue": 100}, {"blue": BLUE})),
    ("deleted", state({"blue": 100}, {"blue": BLUE}), None),
    ("scaled in one family", state({"blue": 100}, {"blue": BLUE}),
     state({"blue": 100}, {"blue": dep("blue", count=7)})),
    ("moved to another family", state({"blue": 100}, {"blue": BLUE}),
     state({"blue": 100}, {"blue": dep("blue", sku=F4)})),
    ("one moved, one scaled down, one added", state(
        {"blue": 50, "green": 50}, {"blue": BLUE, "green": dep("green", count=5)}),
     state({"blue": 50, "green": 50}, {"blue": dep("blue", count=2, sku=F4),
                                       "green": dep("green", count=1),
                                       "red": dep("red", sku=F4)})),
]


@pytest.mark.parametrize(("name", "base", "head"), QUOTA_ROWS, ids=[q[0] for q in QUOTA_ROWS])
def test_quota_rows_sum_each_family(name: str, base: DesiredState | None,
                                    head: DesiredState | None) -> None:
    from mlplan.planning.diff.compare import quota_rows

    rows, total = quota_rows(base, head)
    assert [(r.family, r.before_millis, r.after_millis, r.peak_millis)
            for r in rows] == quota_by_definition(base, head)
    assert (total.before_millis, total.after_millis) == (
        sum(r.before_millis for r in rows), sum(r.after_millis for r in rows))
