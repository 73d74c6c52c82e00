"""The targets. Per target a pure ``plan`` module (every decision: names, manifests, roll
strategy) and a ``resources`` module, the only place that imports its Pulumi provider and
turns the plan into resources deciding nothing."""
