"""Every GPU test needs a target with GPUs (`--capability gpu` on a cluster; the reference declares them
in its node file) and starts once earlier tests have let go of theirs."""

from __future__ import annotations

import pytest

from conformance.gpu.support import wait_for_gpus_released
from kproof.target import GPU, Target


@pytest.fixture(autouse=True)
def _gpus_released(target: Target) -> None:
    if not target.has(GPU):
        pytest.skip("the target does not declare the 'gpu' capability (give --capability gpu on a GPU cluster)")
    wait_for_gpus_released(target)
