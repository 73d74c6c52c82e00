"""The Docker target: ``plan`` (pure), ``host`` (asks the Docker host) and ``resources``
(pulumi-docker)."""
