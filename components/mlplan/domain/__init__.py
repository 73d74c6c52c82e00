"""The Azure ML vocabulary as values: endpoint and deployment specs, stack settings, the
instance-type catalog, quantities, diagnostics and their codes. Pure: no Pulumi, no I/O."""
