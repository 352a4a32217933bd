"""The machinery every controller of the platform process shares: the level-triggered controller base (watches,
a work queue, status writes, children and finalizers) and Kubernetes Events."""
