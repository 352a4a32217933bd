"""Load scenarios (Locust) and the pytest wrappers that assert scale-out, latency and graceful shutdown."""
