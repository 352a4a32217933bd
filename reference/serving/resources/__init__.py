"""What serving's reconcilers create, as pure builders (Knative's pkg/reconciler/*/resources): each make_*
function takes the parent object and returns the child it should have; the reconcilers compare and write."""
