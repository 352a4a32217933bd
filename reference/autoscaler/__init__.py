"""The KPA: Knative's Pod Autoscaler as pure decision code over an injected clock. No I/O here: the
serving controllers feed it metrics and apply what it decides."""
