"""Kubernetes' own controllers that the platform runs (kube-controller-manager's part of a cluster)."""
