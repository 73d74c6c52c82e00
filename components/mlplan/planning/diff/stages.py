"""Promotion stages of a review: where a traffic change puts a deployment (``Stage``,
``stage_of``) from its live and mirrored ``Share`` before and after.
Example: {blue:100, green:0} -> {blue:90, green:10}: green is ``canary``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Stage(enum.Enum):
    """Where a traffic change puts a deployment in a blue/green promotion.

    Computed per deployment whose live share, mirror share or existence changes (a missing
    share is 0%), in Azure's safe-rollout order:

    - ``new at 0%``: created with 0% live and no mirror; reachable by the
      ``azureml-model-deployment`` header only. {blue:100} -> {blue:100, green:0}: green.
    - ``mirrored``: 0% live and a mirror share that changed to > 0.
      mirror {} -> {green:10}: green.
    - ``canary``: live share rose to 1..99 from at most 50%. {blue:100, green:0} ->
      {blue:90, green:10}: green; 10 -> 50 is still canary.
    - ``promoted``: live share rose to 100 from at most 50%. {blue:90, green:10} ->
      {blue:0, green:100}: green.
    - ``rolled back``: live share rose from more than 50% (it held the majority, so the
      others were the candidates). {blue:90, green:10} -> {blue:100, green:0}: blue.
    - ``drained``: kept, had live or mirrored traffic, now has neither. In the promotion
      above blue is drained; stopping a mirror drains the mirror target.
    - ``retired``: deleted. {blue:0, green:100} -> {green:100}: blue.

    A live share that only falls (blue 100 -> 90 for a canary) is no stage of its own.
    An endpoint lists its stages most advanced first: retired, promoted, rolled back, canary,
    mirrored, new at 0%, drained.
    """

    RETIRED = "retired"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled back"
    CANARY = "canary"
    MIRRORED = "mirrored"
    NEW = "new at 0%"
    DRAINED = "drained"


STAGE_ORDER = {stage: rank for rank, stage in enumerate(Stage)}


@dataclass(frozen=True)
class Share:
    """A deployment's live and mirrored percent before and after (0 when absent)."""

    live_before: int = 0
    live_after: int = 0
    mirror_before: int = 0
    mirror_after: int = 0

    @property
    def changed(self) -> bool:
        return (self.live_before, self.mirror_before) != (self.live_after, self.mirror_after)


def stage_of(share: Share, existed: bool, exists: bool) -> Stage | None:
    """The promotion stage of one deployment; see ``Stage``. ``None``: no stage of its own.

    Examples: created at 0% -> NEW; live 10 -> 100 -> PROMOTED; live 90 -> 100 -> ROLLED_BACK;
    live 90 -> 0 kept -> DRAINED; deleted -> RETIRED; live 100 -> 90 -> None.
    """
    if existed and not exists:
        return Stage.RETIRED
    if not exists:
        return None
    if share.live_after > share.live_before:
        if share.live_before > 50:
            return Stage.ROLLED_BACK
        return Stage.PROMOTED if share.live_after == 100 else Stage.CANARY
    if share.live_after == 0 and share.mirror_after > 0 and (
            share.mirror_after != share.mirror_before or not existed):
        return Stage.MIRRORED
    if not existed and share.live_after == 0 and share.mirror_after == 0:
        return Stage.NEW
    had = share.live_before > 0 or share.mirror_before > 0
    if existed and had and share.live_after == 0 and share.mirror_after == 0:
        return Stage.DRAINED
    return None
