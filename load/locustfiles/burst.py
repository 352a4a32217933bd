"""Burst: quiet, then many users at once, then quiet again (KPROOF_BURST users for KPROOF_BURST_SECONDS)."""

from locust import LoadTestShape, constant

from load.locustfiles.common import ServiceUser, number


class BurstUser(ServiceUser):
    wait_time = constant(0)


class BurstShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        quiet, burst = number("quiet_seconds", 5), number("burst_seconds", 30)
        if run_time < quiet:
            return 1, 100
        if run_time < quiet + burst:
            return int(number("burst", 20)), 1000
        if run_time < 2 * quiet + burst:
            return 1, 100
        return None
