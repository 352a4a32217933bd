"""kproof: prove that a serverless platform runs event-driven AI workloads correctly and fast."""

__version__ = "0.1.0"
