"""The serving data plane (in the data plane process): the ingress's routing and traffic split, the activator's
buffering, each replica's breaker (containerConcurrency) and timeouts, h2c, request metrics and logs."""
