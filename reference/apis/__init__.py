"""Shared definitions every area reads and none owns: conditions and times, labels and annotation keys, object
accessors, durations, resource quantities, Knative's eventing addresses. It imports nothing else of the
reference, so every area can import it (Knative keeps the same in pkg/apis)."""
