"""Pure status functions (Knative's *_lifecycle.go): each takes what its reconciler read and returns the
object's status; a condition's precedence is the order of the rules that decide it."""
