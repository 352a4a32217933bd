"""kube-scheduler's part of the reference: where each Pod runs, or why it waits."""
