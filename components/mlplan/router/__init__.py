"""The router: nginx configuration generated from a ``RouterConfig`` (pure; no mlplan import)."""
