"""The Kubernetes target: ``settings``, ``plan`` (pure manifests) and ``resources``
(pulumi-kubernetes)."""
