"""Replicas as processes: the image catalog, the sandbox, volumes, probes and the pod lifecycle."""
