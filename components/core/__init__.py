"""The pure domain core: no Pulumi import, no I/O. Everything here is a function of values."""
