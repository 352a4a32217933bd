"""Structural schemas of every kind the API server serves, one module per API family."""
