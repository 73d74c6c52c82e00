"""Pulumi adapters: the only modules that import pulumi, pulumi_docker or pulumi_kubernetes.

They translate a ``DesiredState`` into resources and decide nothing: every number, name and
rule comes from ``components.core``.
"""
