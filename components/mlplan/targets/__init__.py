"""The targets. Per target a descriptor ``target`` (what the planner, rules and renderers ask:
roll strategy, batch names, field effects, Pulumi types, facts read off resources; registered
in ``registry``, typed by ``base.Target``), a pure ``plan`` module (every decision: names,
manifests, roll strategy) and a ``resources`` module, the only place that imports its Pulumi
provider and turns the plan into resources deciding nothing."""
