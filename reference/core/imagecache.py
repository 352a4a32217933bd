"""knative/caching's Image (caching.internal.knative.dev/v1alpha1): the image is warmed before a Pod needs it,
as seed 004's image caches let ECI Pods start without pulling. On the reference an image is an entry of the
image catalog; warming it runs what the catalog says warms it (reference.runtime.catalog.Catalog.warm_argv)
once per image and spec, and Ready says how it went."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from reference.apis import conditions
from reference.apiserver.registry import Registry
from reference.reconciler.controller import Controller, Key, Watch, own_key

# image -> (ready, reason, message): warms it, or says why it cannot
Warm = Callable[[str], Awaitable[tuple[bool, str, str]]]


class ImageCacheController(Controller):
    name = "imagecache-controller"

    def __init__(self, registry: Registry, warm: Warm) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("caching.internal.knative.dev", "v1alpha1", "images")
        self.warm = warm

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key)]

    async def reconcile(self, key: Key) -> float | None:
        image = self.get(self.kind, *key)
        if image is None or image["metadata"].get("deletionTimestamp"):
            return None
        status = image.get("status") or {}
        generation = image["metadata"].get("generation", 1)
        if status.get("observedGeneration") == generation and conditions.get(image)["status"] in ("True", "False"):
            return None  # warmed (or refused) for this spec already
        ready, reason, message = await self.warm(image["spec"]["image"])
        image = self.get(self.kind, *key)  # warming takes a while: write over what is there now
        if image is None or image["metadata"].get("generation", 1) != generation:
            return None
        self.write_status(self.kind, image, {
            **(image.get("status") or {}), "observedGeneration": generation,
            "conditions": conditions.merge([conditions.condition("Ready", ready, reason, message)],
                                           (image.get("status") or {}).get("conditions"))})
        return None
