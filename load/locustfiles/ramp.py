"""Ramp: users climb one by one to a peak, hold it, then leave (KPROOF_PEAK users, KPROOF_RAMP_SECONDS)."""

from locust import LoadTestShape, constant

from load.locustfiles.common import ServiceUser, number


class RampUser(ServiceUser):
    wait_time = constant(0)


class RampShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        ramp, hold, peak = number("ramp_seconds", 30), number("hold_seconds", 15), number("peak", 8)
        if run_time < ramp:
            return max(1, round(peak * run_time / ramp)), 10
        if run_time < ramp + hold:
            return int(peak), 10
        if run_time < 2 * ramp + hold:
            return max(1, round(peak * (2 * ramp + hold - run_time) / ramp)), 10
        return None
