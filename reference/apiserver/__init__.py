"""A Kubernetes-style REST API for Knative's kinds, backed by SQLite."""
