"""Kubernetes' own controllers that the platform runs (kube-controller-manager's part of a cluster)."""

from __future__ import annotations

from reference.apiserver.registry import Registry
from reference.core.cronjob import CronJobController
from reference.core.deployment import DeploymentController
from reference.core.endpointslices import EndpointSliceController
from reference.core.job import JobController
from reference.core.serviceaccounts import ServiceAccountController
from reference.reconciler.controller import Controller


def workload_controllers(registry: Registry) -> list[Controller]:
    """The ServiceAccount, Deployment, Job, CronJob and EndpointSlice controllers."""
    return [ServiceAccountController(registry), DeploymentController(registry), JobController(registry),
            CronJobController(registry), EndpointSliceController(registry)]
