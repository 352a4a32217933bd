"""The data plane: ingress, activator, per-replica breaker, timeouts, metrics and request logs; HTTP/1.1
and HTTP/2 cleartext (h2c) on both sides.

It runs in a process of its own (its own core and event loop, as Knative's activator and queue-proxy do)
and learns Routes, Revisions and Pods by watching the API server.
"""
