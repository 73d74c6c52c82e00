"""Blue/green promotion as a sequence of traffic states, each a valid declarative state.

From the endpoint's current split, promoting ``to`` with steps ``(10, 50, 100)`` and
``mirror=10`` gives (Azure's safe-rollout sequence):

    1. mirror   blue 100, green 0, mirror green 10   (shadow: green sees copies, answers dropped)
    2. canary   blue 90,  green 10                    (mirror off: one target is live or mirrored)
    3. step     blue 50,  green 50
    4. promoted blue 0,   green 100
    5. retire   green 100; blue deleted                (traffic moved first, delete after)

Steps are numbered from 1, as printed and as ``--write`` reports them.

Only the deployments live before the promotion are retired; others (say a 0% shadow) stay.

Rules: steps strictly increase and end at 100; a step the endpoint has already reached is
skipped, and so is the mirror stage once mirrored or once live; every skip is listed with its
reason (``Promotion.skipped``), e.g. "mirror 10%: green already has 10% live traffic". The
remaining percent is shared by the deployments live now, in proportion to their current weights
(largest remainder, ties by name), so every step sums to 100. Every state is checked by the
core's traffic rules, and the quota is the stack's with the endpoint at that state: both
deployments count until the retire step, so the peak is what must fit.
Example: blue 70 + red 30 promoting green to 50 -> blue 35, red 15, green 50.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from mlplan.domain import codes, labels
from mlplan.domain.diagnostics import Diagnostic, Location, Severity, error
from mlplan.domain.model import Endpoint
from mlplan.domain.names import MAX_MIRROR_PERCENT
from mlplan.planning.state import DesiredState, desired

DEFAULT_STEPS = (10, 50, 100)
#: Endpoint tags written by ``mlplan promote --write`` while a promotion is in progress: the
#: split it started from (``blue=70,red=30``) and its target, for the retire step and rollback.
TAG_FROM = "mlplan-promotion-from"
TAG_TO = "mlplan-promotion-to"


class PromotionStage(enum.StrEnum):
    """The stage of one promotion step, in Azure's safe-rollout order (module docstring); the
    value is how it prints and serializes: ``PromotionStage.RETIRE`` -> ``retire``."""

    MIRROR = "mirror"
    CANARY = "canary"
    STEP = "step"
    PROMOTED = "promoted"
    RETIRE = "retire"


@dataclass(frozen=True)
class PromotionStep:
    number: int
    stage: PromotionStage
    traffic: tuple[tuple[str, int], ...]
    mirror: tuple[tuple[str, int], ...]
    deployments: tuple[tuple[str, int], ...]  # (name, instances) existing at this step
    quota_millis: int  # the stack's reserved cores at this step
    quota_limit_millis: int
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return not any(d.severity is Severity.ERROR for d in self.diagnostics)


@dataclass(frozen=True)
class Promotion:
    endpoint: str
    to: str
    retired: tuple[str, ...]
    steps: tuple[PromotionStep, ...]
    diagnostics: tuple[Diagnostic, ...]  # problems with the request itself
    #: (what, why) of each requested step left out, e.g. ("mirror 10%", "green already ...")
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.diagnostics and all(s.ok for s in self.steps)

    @property
    def peak_quota_millis(self) -> int:
        return max((s.quota_millis for s in self.steps), default=0)


def share(weights: Sequence[tuple[str, int]], total: int) -> tuple[tuple[str, int], ...]:
    """Split ``total`` percent over ``weights`` proportionally, largest remainder first.

    Example: (("blue", 70), ("red", 30)) sharing 50 -> (("blue", 35), ("red", 15));
    (("a", 1), ("b", 1), ("c", 1)) sharing 10 -> a 4, b 3, c 3.
    """
    whole = sum(w for _n, w in weights)
    if not weights or whole == 0:
        return tuple((n, 0) for n, _w in weights)
    floors = {n: total * w // whole for n, w in weights}
    left = total - sum(floors.values())
    order = sorted(weights, key=lambda nw: (-(total * nw[1] % whole), nw[0]))
    for name, _w in order[:left]:
        floors[name] += 1
    return tuple((n, floors[n]) for n, _w in weights)


def plan(  # noqa: C901, PLR0912
    state: DesiredState,
    endpoint_name: str,
    to: str,
    steps: Sequence[int] = DEFAULT_STEPS,
    mirror: int | None = None,
    check: Callable[[DesiredState], DesiredState] | None = None,
) -> Promotion:
    """The promotion of ``to`` on ``endpoint_name`` from the state as it is declared now.
    ``check`` adds the stack's checks to each step's state (``mlplan.check``, given by the
    edge), so a step reports what ``mlplan plan --stack`` would for it."""
    where = Location("", 0, f"promote {endpoint_name}")
    found: list[Diagnostic] = []
    current = next((e for e in state.endpoints if e.name == endpoint_name), None)
    if current is None:  # the files' own errors first (a syntax error hides the endpoint)
        known = ", ".join(e.name for e in state.endpoints) or "none"
        errors = tuple(d for d in state.diagnostics if d.severity is Severity.ERROR)
        first = "; the stack's files have errors, fix them first" if errors else ""
        return Promotion(endpoint_name, to, (), (), (*errors, error(
            codes.PROMOTION, where, f"endpoint '{endpoint_name}' is not declared (endpoints: "
            f"{known}){first}."),))
    endpoint = current.endpoint
    names = [d.name for d in endpoint.deployments]
    if to not in names:
        found.append(error(codes.PROMOTION, where,
                           f"deployment '{to}' is not declared on '{endpoint_name}' "
                           f"(deployments: {', '.join(names) or 'none'}); add its file first."))
    if not steps or list(steps) != sorted(set(steps)) or steps[-1] != 100 or steps[0] <= 0:
        found.append(error(codes.PROMOTION, where,
                           f"steps {','.join(map(str, steps))} must rise strictly and end at "
                           "100, e.g. 10,50,100."))
    if mirror is not None and not 0 < mirror <= MAX_MIRROR_PERCENT:
        found.append(error(codes.PROMOTION, where,
                           f"--mirror {mirror} must be 1 to {MAX_MIRROR_PERCENT}."))
    live = [(n, p) for n, p in endpoint.traffic if p > 0 and n != to]
    tags = dict(endpoint.tags)
    started_from = [(n, p) for n, p in labels.parse_split(str(tags.get(TAG_FROM, "")))
                    if n in names and n != to]
    if not live and endpoint.traffic_map.get(to, 0) == 100 and started_from:
        live = started_from  # promoted already: only the retire step is left
    elif not live and endpoint.traffic_map.get(to, 0) == 100 and to in names and \
            tags.get(TAG_TO) == to and tags.get(TAG_FROM):  # retired, tags left: finish
        return Promotion(endpoint_name, to, (),
                         (_step(state, 0, PromotionStage.RETIRE, endpoint, check),), ())
    if not live and to in names:
        found.append(error(codes.PROMOTION, where,
                           f"no deployment other than '{to}' has live traffic on "
                           f"'{endpoint_name}'; nothing to promote from."))
    if found:
        return Promotion(endpoint_name, to, (), (), tuple(found))
    already = endpoint.traffic_map.get(to, 0)
    mirrored = endpoint.mirror_map.get(to, 0)
    states: list[tuple[PromotionStage, Endpoint]] = []
    skipped: list[tuple[str, str]] = []
    if mirror and already > 0:
        skipped.append((f"mirror {mirror}%", f"{to} already has {already}% live traffic, and a "
                        "deployment gets live or mirrored traffic, not both"))
    elif mirror and mirrored == mirror:
        skipped.append((f"mirror {mirror}%", f"{to} already mirrors {mirror}%"))
    elif mirror:
        states.append((PromotionStage.MIRROR, replace(endpoint, mirror_traffic=((to, mirror),))))
    reached = [p for p in steps if p <= already]
    if reached:
        listed = ", ".join(f"{p}%" for p in reached)
        skipped.append((listed, f"{to} already has {already}% live traffic"))
    for percent in (p for p in steps if p > already):
        traffic = (*share(live, 100 - percent), (to, percent))
        others = tuple((n, 0) for n in names if n != to and n not in dict(live))
        stage = _stage_of(percent, states[-1][0] if states else None)
        states.append((stage, replace(endpoint, traffic=tuple(sorted(traffic + others)),
                                      mirror_traffic=())))
    retired = tuple(sorted(n for n, _p in live))
    final = states[-1][1] if states else endpoint
    states.append((PromotionStage.RETIRE, replace(
        final, traffic=tuple((n, p) for n, p in final.traffic if n not in retired),
        mirror_traffic=(),
        deployments=tuple(d for d in final.deployments if d.name not in retired))))
    return Promotion(endpoint_name, to, retired, tuple(
        _step(state, number, stage, changed, check)
        for number, (stage, changed) in enumerate(states, start=1)), (), tuple(skipped))


def _stage_of(percent: int, previous: PromotionStage | None) -> PromotionStage:
    """100 -> promoted; the first live step (or the one after the mirror) -> canary; else step."""
    if percent == 100:
        return PromotionStage.PROMOTED
    if previous in (None, PromotionStage.MIRROR):
        return PromotionStage.CANARY
    return PromotionStage.STEP


def _step(state: DesiredState, number: int, stage: PromotionStage, changed: Endpoint,
          check: Callable[[DesiredState], DesiredState] | None) -> PromotionStep:
    endpoints = [changed if e.name == changed.name else e.endpoint for e in state.endpoints]
    at_step = desired(endpoints, state.settings, target=state.target)
    if check is not None:
        at_step = check(at_step)
    mine = next(e for e in at_step.endpoints if e.name == changed.name)
    return PromotionStep(
        number=number, stage=stage, traffic=tuple((n, p) for n, p in changed.traffic),
        mirror=changed.mirror_traffic,
        deployments=tuple((d.name, d.deployment.instance_count) for d in mine.deployments),
        quota_millis=at_step.quota.total_reserved_millis,
        quota_limit_millis=at_step.quota.total_limit_millis,
        diagnostics=at_step.diagnostics,
    )
