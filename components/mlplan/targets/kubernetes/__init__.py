"""The Kubernetes target: ``choices`` (pure: its names, numbers and choices), ``manifests``
(pure: every object of an endpoint as values), ``files`` (reads the model
and code for ConfigMaps) and ``resources`` (pulumi-kubernetes)."""
