"""Warming an image of the catalog (knative/caching's Image): what a node's image pull is to a cluster."""

from __future__ import annotations

import asyncio
import time

from reference.runtime.catalog import Catalog, ImageNotFound, ImageUnavailable

TIMEOUT = 300.0


async def warm(catalog: Catalog, image: str) -> tuple[bool, str, str]:
    """(ready, reason, message) for the Image's Ready condition."""
    try:
        argv = catalog.warm_argv(image)
    except ImageNotFound as err:
        return False, "ImageNotFound", str(err)
    except ImageUnavailable as err:
        return False, "ImageUnavailable", str(err)
    if argv is None:
        return True, "", "nothing to fetch: the image runs a program already on this machine"
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        _, errors = await asyncio.wait_for(process.communicate(), TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        return False, "WarmFailed", f"warming {image} took longer than {TIMEOUT:g}s"
    if process.returncode != 0:
        tail = errors.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return False, "WarmFailed", f"warming {image} failed: {tail[0]}"
    return True, "", f"warmed in {time.monotonic() - started:.1f}s ({' '.join(argv[1:])})"
