"""CloudEvents as Knative's eventing libraries handle them, used by both processes: the codec (HTTP and Kafka
bindings), receiving, delivery with retries and dead letters, and filters (attributes, dialects, CESQL, CEL)."""
