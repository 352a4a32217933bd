"""A kind served in two versions and stored in one: KafkaSource v1alpha1 beside v1beta1, over HTTP."""

import asyncio
import json
from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient, TestServer

from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.conversion import KAFKA_SOURCE_V1ALPHA1
from reference.apiserver.registry import Registry
from reference.apiserver.server import ApiServer
from reference.apiserver.store import Store

AUTH = {"Authorization": "Bearer secret"}
V1ALPHA1 = "/apis/sources.knative.dev/v1alpha1/namespaces/default/kafkasources"
V1BETA1 = "/apis/sources.knative.dev/v1beta1/namespaces/default/kafkasources"
SEED = {"apiVersion": "sources.knative.dev/v1alpha1", "kind": "KafkaSource",
        "metadata": {"name": "kafka-source", "annotations": {"k8s.aliyun.com/retry-count": "5"}},
        "spec": {"consumerGroup": "demo-consumer", "bootstrapServers": "10.0.0.1:9092, 10.0.0.2:9092",
                 "topics": "demo", "sink": {"uri": "http://101.200.177.84"}}}


def run(scenario: Callable[[TestClient, Store], Awaitable[None]]) -> None:
    async def main() -> None:
        store = Store()
        registry = Registry(store)
        bootstrap(registry)
        async with TestClient(TestServer(ApiServer(registry, "secret").app())) as client:
            await scenario(client, store)

    asyncio.run(main())


def test_conversions_round_trip() -> None:
    up = KAFKA_SOURCE_V1ALPHA1.up(SEED)
    assert up["apiVersion"] == "sources.knative.dev/v1beta1"
    assert up["spec"]["bootstrapServers"] == ["10.0.0.1:9092", "10.0.0.2:9092"] and up["spec"]["topics"] == ["demo"]
    down = KAFKA_SOURCE_V1ALPHA1.down(up)
    assert down["spec"]["bootstrapServers"] == "10.0.0.1:9092,10.0.0.2:9092" and down["spec"]["topics"] == "demo"
    assert down["metadata"] == SEED["metadata"] and down["spec"]["sink"] == SEED["spec"]["sink"]


def test_the_seeds_v1alpha1_source_is_stored_as_v1beta1_and_read_in_either_version() -> None:
    async def scenario(client: TestClient, store: Store) -> None:
        created = await client.post(V1ALPHA1, data=json.dumps(SEED), headers=AUTH)
        assert created.status == 201, await created.text()
        body = await created.json()
        assert body["apiVersion"] == "sources.knative.dev/v1alpha1" and body["spec"]["topics"] == "demo"
        stored = store.get("sources.knative.dev/kafkasources", "default", "kafka-source")
        assert stored["apiVersion"] == "sources.knative.dev/v1beta1" and stored["spec"]["topics"] == ["demo"]
        assert stored["spec"]["ordering"] == "ordered", "v1beta1's defaults applied at admission"

        beta = await (await client.get(f"{V1BETA1}/kafka-source", headers=AUTH)).json()
        assert beta["spec"]["bootstrapServers"] == ["10.0.0.1:9092", "10.0.0.2:9092"]
        alpha = await (await client.get(V1ALPHA1, headers=AUTH)).json()
        assert alpha["apiVersion"] == "sources.knative.dev/v1alpha1"
        assert alpha["items"][0]["spec"]["bootstrapServers"] == "10.0.0.1:9092,10.0.0.2:9092"

        patched = await client.patch(f"{V1ALPHA1}/kafka-source", data=json.dumps({"spec": {"topics": "demo,more"}}),
                                     headers={**AUTH, "Content-Type": "application/merge-patch+json"})
        assert patched.status == 200 and (await patched.json())["spec"]["topics"] == "demo,more"
        assert store.get("sources.knative.dev/kafkasources", "default", "kafka-source")["spec"]["topics"] == [
            "demo", "more"]

        applied = await client.patch(f"{V1ALPHA1}/kafka-source?fieldManager=kubectl", data=json.dumps(
            {**SEED, "spec": {**SEED["spec"], "topics": "other"}}),
            headers={**AUTH, "Content-Type": "application/apply-patch+yaml"})
        assert applied.status == 200 and (await applied.json())["spec"]["topics"] == "other"

    run(scenario)


def test_a_v1alpha1_list_where_a_string_belongs_is_a_422_naming_the_field() -> None:
    async def scenario(client: TestClient, store: Store) -> None:
        wrong = {**SEED, "spec": {**SEED["spec"], "topics": ["demo"]}}
        response = await client.post(V1ALPHA1, data=json.dumps(wrong), headers=AUTH)
        assert response.status == 422
        assert (await response.json())["details"]["causes"][0]["field"] == "spec.topics"
        empty = await client.post(V1ALPHA1, data=json.dumps({**SEED, "spec": {**SEED["spec"], "topics": " , "}}),
                                  headers=AUTH)
        assert empty.status == 422 and "spec.topics" in await empty.text()

    run(scenario)


def test_discovery_serves_both_versions_and_prefers_the_stored_one() -> None:
    async def scenario(client: TestClient, store: Store) -> None:
        group = await (await client.get("/apis/sources.knative.dev", headers=AUTH)).json()
        versions = [v["version"] for v in group["versions"]]
        assert "v1alpha1" in versions and versions.index("v1beta1") < versions.index("v1alpha1")
        resources = await (await client.get("/apis/sources.knative.dev/v1alpha1", headers=AUTH)).json()
        assert [r["name"] for r in resources["resources"]] == ["kafkasources", "kafkasources/status"]
        openapi = await (await client.get("/openapi/v3", headers=AUTH)).json()
        assert "apis/sources.knative.dev/v1alpha1" in openapi["paths"]

    run(scenario)


def test_a_watch_in_v1alpha1_shows_objects_as_v1alpha1() -> None:
    async def scenario(client: TestClient, store: Store) -> None:
        beta = KAFKA_SOURCE_V1ALPHA1.up(SEED)
        assert (await client.post(V1BETA1, data=json.dumps(beta), headers=AUTH)).status == 201
        rv = (await (await client.get(V1ALPHA1, headers=AUTH)).json())["metadata"]["resourceVersion"]
        watch = await client.get(f"{V1ALPHA1}?watch=true&resourceVersion={rv}&timeoutSeconds=2", headers=AUTH)
        await client.patch(f"{V1BETA1}/kafka-source", data=json.dumps({"spec": {"topics": ["a", "b"]}}),
                           headers={**AUTH, "Content-Type": "application/merge-patch+json"})
        line = json.loads(await watch.content.readline())
        assert line["type"] == "MODIFIED" and line["object"]["spec"]["topics"] == "a,b"
        assert line["object"]["apiVersion"] == "sources.knative.dev/v1alpha1"

    run(scenario)
