"""Admission: the defaulting and validation Knative's (and Kubernetes') webhooks perform."""
