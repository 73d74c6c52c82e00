"""Changes between two desired states (base -> head): what a reviewer needs, as data.

``review(base, head)`` compares plain-dict projections of the two states leaf by leaf, then
classifies every changed field (``environment.image``, ``instance_count``) by its effect on the
target and gives each endpoint and deployment one action from a closed set. The replace order is
part of the action (Terraform style); reasons only explain:

====================  ======  ==========================================================
action                symbol  when
====================  ======  ==========================================================
create                ``+``   new endpoint or deployment
update                ``~``   changed in place: traffic (router reload), scale, metadata
create-then-delete    ``+/-`` new copy first, old deleted after: a surging roll (Kubernetes
                              pods; Docker's surge batch, later batches delete-first while it
                              stands in), a renamed deployment, a target switch
delete-then-create    ``-/+`` old copy deleted first: instances of SKUs exempt from the 20%
                              quota surge (Docker containers, Kubernetes pods), per batch
delete                ``-``   removed; Pulumi runs deletes last, after traffic moved
no-op                         nothing changes
====================  ======  ==========================================================

Example: blue's image changes on 10 instances on Docker or Kubernetes ->
``create-then-delete``, ``10 instances: 5 batches of 2, peak 12, at least 10 serving`` (for an
exempt SKU such as Standard_NC24ads_A100_v4: ``delete-then-create``, ``..., peak 10, at least 8
serving``, which is what it reserved). instance_count 3 -> 10 alone -> ``update`` (scale); with
an image change too -> scale first, then roll, plus MLP301.

Modules: ``actions`` (the action model and change records), ``stages`` (promotion stages),
``projections`` (plain dicts and their leaf comparison; masking), ``prose`` (target-neutral
reasons), ``compare`` (``review``; a field's effect is the target's: ``DesiredState.target``,
``planning.port.Target.field_effect``). The names callers use are re-exported here.

Pure: no I/O. Values of secret-looking fields (``*_KEY``, ``password``, ``token``...) and Pulumi
``secure:`` values are masked before they reach any renderer.
"""

from mlplan.planning.diff.actions import (
    LEGEND,
    Action,
    DeploymentChange,
    EndpointChange,
    FieldChange,
    QuotaRow,
    ReviewStep,
    Roll,
    Sized,
    StackChanges,
    TrafficChange,
)
from mlplan.planning.diff.compare import quota_rows, review
from mlplan.planning.diff.projections import (
    MASK,
    Scalar,
    deployment_projection,
    endpoint_projection,
    field_changes,
    sensitive,
    settings_projection,
)
from mlplan.planning.diff.stages import Share, Stage, stage_of
from mlplan.planning.port import Effect

__all__ = [
    "LEGEND",
    "MASK",
    "Action",
    "DeploymentChange",
    "Effect",
    "EndpointChange",
    "FieldChange",
    "QuotaRow",
    "ReviewStep",
    "Roll",
    "Scalar",
    "Share",
    "Sized",
    "StackChanges",
    "Stage",
    "TrafficChange",
    "deployment_projection",
    "endpoint_projection",
    "field_changes",
    "quota_rows",
    "review",
    "sensitive",
    "settings_projection",
    "stage_of",
]
