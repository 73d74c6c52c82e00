"""The Kubernetes target: ``plan`` (pure: every manifest decision), ``files`` (reads the model
and code for ConfigMaps) and ``resources`` (pulumi-kubernetes)."""
