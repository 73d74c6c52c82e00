"""The targets. Per target a descriptor ``target`` (what the planner, rules and renderers ask:
roll strategy, batch names, field effects, Pulumi types, facts read off resources; registered
in ``registry``, typed by ``base.Target``), its pure plan (every decision: names, manifests,
roll strategy; Docker: ``containers``, Kubernetes: ``choices`` and ``manifests``) and a
``resources`` module, the only place that imports its Pulumi provider and turns the plan into
resources deciding nothing."""
