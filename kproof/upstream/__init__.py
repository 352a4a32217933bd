"""Knative's own conformance tests, built from their published Go modules and run against a target."""
