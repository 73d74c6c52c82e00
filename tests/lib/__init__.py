"""Shared tooling of the test runner (progress lines, the time summary)."""
