"""The router: nginx configuration generated from a ``RouterConfig`` (pure; imports only the
names and caps of ``mlplan.domain.names``)."""
