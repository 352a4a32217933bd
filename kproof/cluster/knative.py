"""Knative's install YAML, read from the pinned modules' config/ folders in Go's module cache, and the image
catalog that maps its ko:// images to the binaries built from the same modules.

The YAML is applied as published but for a few ConfigMap keys: config-network's ingress-class (kproof's
data plane is the networking layer), config-domain (kproof's domain), config-deployment's
registries-skipping-tag-resolving (kproof's app images live in no registry) and config-observability's
metrics protocols (Prometheus, as Knative documents for collecting metrics). Module zips drop symlinks,
so the files serving's config/core links in from knative.dev/networking and knative.dev/caching are
taken from those modules at the versions serving pins.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from kproof.cluster.state import DOMAIN, INGRESS_CLASS
from kproof.cluster.versions import EVENTING, SERVING, Module
from reference.host.processes import write_private

NETWORKING = "knative.dev/networking"
CACHING = "knative.dev/caching"
FIRST = ("Namespace", "CustomResourceDefinition")  # applied first; the CRDs must be Established before the rest
LAST = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")  # after every object they would check
KNATIVE_SKIPPED_REGISTRIES = ("kind.local", "ko.local", "dev.local")  # Knative's own default
EVENTING_FOLDERS = ("core", "channels/in-memory-channel", "brokers/mt-channel-broker")


class KnativeError(RuntimeError):
    pass


def module_dirs(go: str) -> dict[str, Path]:
    """Where Go's module cache holds serving, eventing and the networking and caching modules serving pins
    (downloaded if missing)."""
    paths = [SERVING.path, EVENTING.path, NETWORKING, CACHING]
    done = subprocess.run([go, "mod", "download", "-json", *paths], cwd=SERVING.directory, capture_output=True,
                          text=True, timeout=600)
    found: dict[str, Path] = {}
    decoder = json.JSONDecoder()
    text, position = done.stdout, 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        entry, position = decoder.raw_decode(text, position)
        if entry.get("Error"):
            raise KnativeError(f"go mod download {entry.get('Path')}: {entry['Error']}")
        found[entry["Path"]] = Path(entry["Dir"])
    missing = [path for path in paths if path not in found]
    if done.returncode != 0 or missing:
        raise KnativeError(f"go mod download {' '.join(missing or paths)} failed: {done.stderr.strip()[-2000:]}")
    return found


def serving_files(dirs: dict[str, Path]) -> list[Path]:
    core = dirs[SERVING.path] / "config" / "core"
    networking = dirs[NETWORKING] / "config"

    def each(folder: str) -> list[Path]:
        return sorted((core / folder).glob("*.yaml"))

    return [core / "100-namespace.yaml", *each("200-roles"), core / "200-serviceaccount.yaml", *each("300-resources"),
            *(networking / f"{name}.yaml" for name in ("certificate", "domain-claim", "ingress", "serverlessservice")),
            dirs[CACHING] / "config" / "image.yaml", core / "300-knativecertificate.yaml", *each("configmaps"),
            networking / "config-network.yaml", *each("deployments"), *each("webhooks"), core / "999-cache.yaml"]


def eventing_files(dirs: dict[str, Path]) -> list[Path]:
    """Eventing core (its sources: PingSource, ApiServerSource, ContainerSource, SinkBinding, included), the
    in-memory channel and the multi-tenant channel-based broker; and the two ConfigMaps config/core links in
    from third_party/ (the images of the integration sources and of EventTransform), which the eventing
    controller's Deployment reads."""
    root = dirs[EVENTING.path]
    linked = [root / "third_party" / "eventing-integrations-latest" / f"eventing-{name}-images.yaml"
              for name in ("integrations", "transformations")]
    return [*(path for folder in EVENTING_FOLDERS for path in sorted((root / "config" / folder).rglob("*.yaml"))),
            *linked]


def documents(files: Iterable[Path]) -> list[dict]:
    docs = []
    for path in files:
        if not path.exists():
            raise KnativeError(f"{path} is missing from the module cache (a partial download? `go clean -modcache`)")
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict) and doc]
    return docs


def configure(docs: list[dict], skip_registries: Iterable[str]) -> None:
    """The ConfigMap keys kproof sets (nothing else changes)."""
    settings = {
        ("knative-serving", "config-network"): {"ingress-class": INGRESS_CLASS},
        ("knative-serving", "config-domain"): {DOMAIN: ""},
        ("knative-serving", "config-deployment"): {
            "registries-skipping-tag-resolving": ",".join(sorted(set(skip_registries)))},
        # Knative's documented way to collect metrics: the components serve Prometheus on 9090 (the
        # autoscaler's decisions, which tests read) and each queue-proxy its request metrics on 9091.
        ("knative-serving", "config-observability"): {"metrics-protocol": "prometheus",
                                                      "request-metrics-protocol": "prometheus"},
    }
    seen = set()
    for doc in docs:
        key = ((doc.get("metadata") or {}).get("namespace"), (doc.get("metadata") or {}).get("name"))
        if doc.get("kind") == "ConfigMap" and key in settings:
            doc.setdefault("data", {}).update(settings[key])
            seen.add(key)
    missing = set(settings) - seen
    if missing:
        raise KnativeError(f"Knative's YAML has no ConfigMap {', '.join(f'{ns}/{name}' for ns, name in missing)}")


def phases(docs: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """(namespaces and CRDs, everything else, the admission webhooks' configurations)."""
    first = [doc for doc in docs if doc.get("kind") in FIRST]
    last = [doc for doc in docs if doc.get("kind") in LAST]
    rest = [doc for doc in docs if doc.get("kind") not in FIRST + LAST]
    return first, rest, last


def write_yaml(path: Path, docs: list[dict]) -> Path:
    write_private(path, "---\n".join(yaml.safe_dump(doc, sort_keys=False) for doc in docs))
    return path


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def ko_images(docs: Iterable[dict]) -> set[str]:
    """Every ko:// image the YAML names: containers' images and images passed in env (the adapters the
    eventing controller creates) or ConfigMaps (the queue-proxy sidecar)."""
    return {text.strip() for doc in docs for text in _strings(doc) if text.strip().startswith("ko://")}


@dataclass(frozen=True)
class CatalogEntry:
    image: str
    binary: Path | None


def catalog(modules: Iterable[Module], binary: dict[tuple[str, str], Path], named: set[str]) -> list[CatalogEntry]:
    """An entry per built binary, and one (unavailable) per ko:// image the YAML names that kproof builds not."""
    entries = [CatalogEntry(module.image(name), binary[(module.path, name)])
               for module in modules for name in module.binaries]
    built = {entry.image for entry in entries}
    return entries + [CatalogEntry(image, None) for image in sorted(named - built)]


def write_catalog(path: Path, entries: list[CatalogEntry]) -> Path:
    """The node agent's image catalog, in fixtures/images.yaml's format."""
    images: list[dict] = []
    for entry in entries:
        if entry.binary is not None:
            images.append({"image": entry.image, "command": [str(entry.binary)]})
        else:
            images.append({"image": entry.image, "unavailable": "kproof cluster does not build this image (optional)"})
    header = ("# Written by `kproof cluster up`: Knative's ko:// images -> the binaries built from the pinned\n"
              "# modules (kproof/cluster/go/), in the format of fixtures/images.yaml.\n")
    write_private(path, header + yaml.safe_dump({"images": images}, sort_keys=False))
    return path


def skip_registries(app_images: Iterable[str]) -> set[str]:
    """The registries of kproof's app images (and Knative's defaults), as Knative names them: Docker Hub is
    index.docker.io there."""
    from reference.runtime.catalog import DOCKER_HUB, parse_reference

    hosts = set(KNATIVE_SKIPPED_REGISTRIES)
    for image in app_images:
        host = parse_reference(image).host
        if host.endswith(":"):
            continue  # ko://, not a registry
        hosts.add(host)
        if host == DOCKER_HUB:
            hosts.add("index.docker.io")
    return hosts
