"""The Docker target: ``containers`` (pure: desired state -> ``EndpointContainers``),
``host`` (asks the Docker host) and ``resources``
(pulumi-docker)."""
