"""kproof's reference platform: a local, Knative-compatible platform on one machine."""
