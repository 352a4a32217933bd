"""Kafka for the reference: finding one (or starting the embedded broker) and consuming at least once."""
