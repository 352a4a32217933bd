"""Eventing: CloudEvents over HTTP, brokers, triggers, channels and delivery."""
