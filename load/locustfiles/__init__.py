"""Locust scenarios: each runs from Locust's web UI (`locust -f load/locustfiles/<name>.py`) or headless."""
