"""The workloads the reference runs and the suite deploys. Each listens on $PORT and drains on SIGTERM;
each also runs as a container on a real cluster (see Dockerfile)."""
