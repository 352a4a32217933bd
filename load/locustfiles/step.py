"""Step: a low plateau, then a jump to a high one (KPROOF_LOW, KPROOF_HIGH users; KPROOF_STEP_SECONDS each)."""

from locust import LoadTestShape, constant

from load.locustfiles.common import ServiceUser, number


class StepUser(ServiceUser):
    wait_time = constant(0)


class StepShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        seconds = number("step_seconds", 30)
        if run_time < seconds:
            return int(number("low", 2)), 100
        if run_time < 2 * seconds:
            return int(number("high", 8)), 100
        return None
