"""kproof's runtime as the node agent of a real Kubernetes cluster (`kproof cluster up` starts it): it registers
a Node on the cluster's API server as `system:node:<name>`, keeps its Lease, runs the Pods bound to it in the
sandbox with a network namespace each on the cluster's bridge, writes their status, mints their projected
service-account tokens through TokenRequest, and serves the kubelet's log endpoint for `kubectl logs`."""
