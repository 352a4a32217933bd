"""What `kproof upstream-tests` builds and runs: Knative's test packages and test images at the release
`kproof cluster` pins, from the wrapper module kproof/cluster/go/upstream-tests (our go.mod, no copied source).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kproof.cluster.versions import Module

WRAPPER = "upstream-tests"

SERVING_TESTS = Module(
    WRAPPER, "knative.dev/serving",
    {"serving-api-v1.test": "knative.dev/serving/test/conformance/api/v1",
     "serving-runtime.test": "knative.dev/serving/test/conformance/runtime"},
    cold_minutes=6, tests=True, variant="tests")
NETWORKING_TESTS = Module(
    WRAPPER, "knative.dev/networking",
    {"networking-ingress.test": "knative.dev/networking/test/conformance/ingress"},
    cold_minutes=2, tests=True, variant="tests")
EVENTING_TESTS = Module(
    WRAPPER, "knative.dev/eventing", {"eventing-rekt.test": "knative.dev/eventing/test/rekt"},
    cold_minutes=5, tests=True, variant="tests")

SERVING_IMAGE_NAMES = (
    "autoscale", "configmimic", "failing", "grpc-ping", "hellohttp2", "hellovolume", "helloworld", "httpproxy",
    "pizzaplanetv1", "pizzaplanetv2", "readiness", "runtime", "singlethreaded", "slowstart", "timeout", "volumes",
    "wsserver")
SERVING_IMAGES = Module(
    WRAPPER, "knative.dev/serving",
    {**{name: f"knative.dev/serving/test/test_images/{name}" for name in SERVING_IMAGE_NAMES},
     "servingcontainer": "knative.dev/serving/test/test_images/multicontainer/servingcontainer",
     "sidecarcontainer": "knative.dev/serving/test/test_images/multicontainer/sidecarcontainer"},
    cold_minutes=2, variant="test-images")
NETWORKING_IMAGES = Module(
    WRAPPER, "knative.dev/networking",
    {name: f"knative.dev/networking/test/test_images/{name}"
     for name in ("grpc-ping", "httpproxy", "retry", "runtime", "timeout", "wsserver")},
    cold_minutes=1, variant="test-images")
# eventshub comes from knative.dev/reconciler-test at the version the wrapper's replace gives it
EVENTING_IMAGES = Module(
    WRAPPER, "knative.dev/eventing",
    {"eventshub": "knative.dev/reconciler-test/cmd/eventshub",
     "heartbeats": "knative.dev/eventing/cmd/heartbeats",
     "print": "knative.dev/eventing/test/test_images/print"},
    cold_minutes=1, variant="test-images")

# go test -json -> JUnit XML
GOTESTSUM = Module(WRAPPER, "gotest.tools/gotestsum", {"gotestsum": "gotest.tools/gotestsum"}, cold_minutes=0.5)


@dataclass(frozen=True)
class Suite:
    """One upstream test package: the binary that runs it and the images its tests create."""

    name: str
    package: str
    tests: Module
    binary: str
    images: Module
    repository: str  # --dockerrepo: test images are <repository>/<name>:<tag>
    run: str = ""  # -test.run: the tests of the package this suite covers ("" = all)
    needs: tuple[str, ...] = field(default=())  # what the target must serve (see target_offers)
    parallel: int = 2  # -test.parallel: tests (or rekt's feature steps) at once


IMAGE_TAG = "upstream"
# not a *.local host: serving skips its image-pull error test for a local registry (errorcondition_test.go)
IMAGE_HOST = "kproof.dev/upstream-tests"

SUITES = (
    Suite("serving-api-v1", "knative.dev/serving/test/conformance/api/v1", SERVING_TESTS, "serving-api-v1.test",
          SERVING_IMAGES, f"{IMAGE_HOST}/serving"),
    Suite("serving-runtime", "knative.dev/serving/test/conformance/runtime", SERVING_TESTS, "serving-runtime.test",
          SERVING_IMAGES, f"{IMAGE_HOST}/serving"),
    Suite("networking-ingress", "knative.dev/networking/test/conformance/ingress", NETWORKING_TESTS,
          "networking-ingress.test", NETWORKING_IMAGES, f"{IMAGE_HOST}/networking", needs=("kingress",)),
    # the rekt tests of Broker, Trigger, Channel, Subscription, PingSource, ContainerSource, SinkBinding and
    # ApiServerSource (Subscriptions are exercised by the channel tests)
    Suite("eventing-rekt", "knative.dev/eventing/test/rekt", EVENTING_TESTS, "eventing-rekt.test",
          EVENTING_IMAGES, f"{IMAGE_HOST}/eventing",
          run="^Test(Broker|Trigger|Channel|Subscription|PingSource|ContainerSource|SinkBinding|ApiServerSource)",
          parallel=4),  # rekt's features mostly wait (for pods, for events): more at once, same verdicts
)


def modules(suites: tuple[Suite, ...]) -> list[Module]:
    """The modules to build for these suites, each once."""
    found: dict[str, Module] = {GOTESTSUM.key: GOTESTSUM}
    for suite in suites:
        found.setdefault(suite.tests.key, suite.tests)
        found.setdefault(suite.images.key, suite.images)
    return list(found.values())
