"""Eventing's control plane: Brokers, Triggers, Channels and Subscriptions get addresses and statuses."""
