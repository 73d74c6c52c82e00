"""The policy rules (one function per code) and the facts the policy pack reads off resources.
Shared by the CLI, the Pulumi program and the CrossGuard pack. Pure."""
