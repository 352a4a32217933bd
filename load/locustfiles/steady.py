"""Steady: the same number of users for the whole run (-u USERS, --run-time)."""

from locust import constant

from load.locustfiles.common import ServiceUser


class SteadyUser(ServiceUser):
    wait_time = constant(0)
