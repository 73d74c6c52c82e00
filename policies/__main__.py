"""The mlplan policy pack: ``pulumi preview --policy-pack policies/``. Starts the policy server
(blocks forever), so tests import ``mlplan_policies`` instead of this file."""

from mlplan_policies import policies
from pulumi_policy import PolicyPack

PolicyPack(name="mlplan", policies=policies())
