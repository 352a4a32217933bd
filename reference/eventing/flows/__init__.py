"""flows.knative.dev's Sequence and Parallel, built of channels and Subscriptions, and the v1alpha1 kinds that
compose with them: EventTransform and RequestReply."""

from __future__ import annotations

from reference.eventing.broker import Probe
from reference.reconciler.controller import Controller


def flows_controllers(registry, probe: Probe) -> list[Controller]:
    from reference.eventing.eventtransform import EventTransformReconciler
    from reference.eventing.flows.parallel import ParallelReconciler
    from reference.eventing.flows.sequence import SequenceReconciler
    from reference.eventing.requestreply import RequestReplyReconciler

    return [SequenceReconciler(registry), ParallelReconciler(registry), EventTransformReconciler(registry, probe),
            RequestReplyReconciler(registry, probe)]
