"""Eventing's control plane (the platform process): Brokers, Triggers, Channels, Subscriptions and KafkaSinks get
addresses and statuses; the data plane (reference.dataplane.eventing) carries their events."""
