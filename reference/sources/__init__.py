"""Event sources: adapters that turn the outside world into CloudEvents."""
