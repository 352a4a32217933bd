"""Serving an app the way Knative's runtime contract expects: listen on $PORT, drain on SIGTERM."""

from __future__ import annotations

import logging
import os
import sys

from aiohttp import web

# How long in-flight requests may take to finish after SIGTERM; Knative gives the pod
# timeoutSeconds (terminationGracePeriodSeconds) in all, so this is only an upper bound.
DRAIN_SECONDS = float(os.environ.get("KPROOF_DRAIN_SECONDS", "300"))


def log(app: str, message: str) -> None:
    print(f"{app}: {message}", flush=True)


def serve(app: web.Application, name: str) -> None:
    """Runs `app` on $PORT (8080 when unset) until SIGTERM or SIGINT, then drains in-flight requests."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
    port = int(os.environ.get("PORT", "8080"))
    log(name, f"listening on port {port}")
    # the Pod's address: 127.0.0.1 on the reference, where replicas share the host's network
    web.run_app(app, host=os.environ.get("KPROOF_BIND", "127.0.0.1"), port=port, print=None,
                access_log=None, shutdown_timeout=DRAIN_SECONDS, handle_signals=True)
    log(name, "drained, exiting")
