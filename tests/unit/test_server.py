"""The HTTP layer, in process: status codes, tables, watch streams and OpenAPI as clients see them."""

import asyncio
import json
from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient, TestServer

from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.registry import Registry
from reference.apiserver.server import ApiServer
from reference.apiserver.store import Store

TOKEN = "secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KSVC = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "hello"},
        "spec": {"template": {"spec": {"containers": [{"image": "gcr.io/knative-samples/helloworld-go"}]}}}}
SERVICES = "/apis/serving.knative.dev/v1/namespaces/default/services"


def run(scenario: Callable[[TestClient], Awaitable[None]]) -> None:
    async def main() -> None:
        registry = Registry(Store())
        bootstrap(registry)
        async with TestClient(TestServer(ApiServer(registry, TOKEN).app())) as client:
            await scenario(client)

    asyncio.run(main())


def test_requests_without_the_token_are_401() -> None:
    async def scenario(client: TestClient) -> None:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
            response = await client.get("/api/v1/namespaces", headers=headers)
            assert response.status == 401
            assert (await response.json())["reason"] == "Unauthorized"
        assert (await client.get("/readyz")).status == 200
        assert (await client.get("/version")).status == 200

    run(scenario)


def test_create_without_content_type_and_errors_as_status() -> None:
    async def scenario(client: TestClient) -> None:
        created = await client.post(SERVICES, data=json.dumps(KSVC), headers=AUTH)
        assert created.status == 201
        again = await client.post(SERVICES, data=json.dumps(KSVC), headers=AUTH)
        assert again.status == 409
        body = await again.json()
        assert body["reason"] == "AlreadyExists"
        assert body["message"] == 'services.serving.knative.dev "hello" already exists'
        missing = await client.get(f"{SERVICES}/absent", headers=AUTH)
        assert missing.status == 404 and (await missing.json())["details"]["kind"] == "services"
        bad = await client.post(SERVICES, data="{not json", headers=AUTH)
        assert bad.status == 400

    run(scenario)


def test_tables_carry_knative_columns_and_object_metadata() -> None:
    async def scenario(client: TestClient) -> None:
        await client.post(SERVICES, data=json.dumps(KSVC), headers=AUTH)
        accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        table = await (await client.get(SERVICES, headers={**AUTH, "Accept": accept})).json()
        assert table["kind"] == "Table"
        assert [c["name"] for c in table["columnDefinitions"]] == [
            "Name", "URL", "LatestCreated", "LatestReady", "Ready", "Reason"]
        assert table["rows"][0]["cells"][0] == "hello"
        assert table["rows"][0]["object"]["metadata"]["namespace"] == "default"
        assert table["metadata"]["resourceVersion"]

    run(scenario)


def test_watch_streams_one_event_per_line() -> None:
    async def scenario(client: TestClient) -> None:
        listed = await (await client.get(SERVICES, headers=AUTH)).json()
        version = listed["metadata"]["resourceVersion"]
        await client.post(SERVICES, data=json.dumps(KSVC), headers=AUTH)
        response = await client.get(SERVICES, headers=AUTH,
                                    params={"watch": "true", "resourceVersion": version, "timeoutSeconds": "1"})
        lines = (await response.text()).split("\n")
        assert lines[-1] == "" and all(lines[:-1]), "every event ends with a newline; no blank lines"
        events = [json.loads(line) for line in lines[:-1]]
        assert [e["type"] for e in events] == ["ADDED"]
        assert events[0]["object"]["metadata"]["name"] == "hello"
        gone = await client.get(SERVICES, headers=AUTH, params={"watch": "1", "resourceVersion": "-5"})
        error = json.loads((await gone.text()).splitlines()[0])
        assert error["type"] == "ERROR" and error["object"]["code"] == 410

    run(scenario)


def test_openapi_declares_server_side_field_validation() -> None:
    async def scenario(client: TestClient) -> None:
        root = await (await client.get("/openapi/v3", headers=AUTH)).json()
        url = root["paths"]["apis/serving.knative.dev/v1"]["serverRelativeURL"]
        document = await (await client.get(url, headers=AUTH)).json()
        patch = document["paths"]["/apis/serving.knative.dev/v1/namespaces/{namespace}/services/{name}"]["patch"]
        assert patch["x-kubernetes-group-version-kind"] == {"group": "serving.knative.dev", "version": "v1",
                                                           "kind": "Service"}
        assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
        assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]

    run(scenario)


def test_strict_validation_warnings_and_delete() -> None:
    async def scenario(client: TestClient) -> None:
        body = json.loads(json.dumps(KSVC))
        body["spec"]["extra"] = 1
        warned = await client.post(SERVICES, data=json.dumps(body), headers=AUTH,
                                   params={"fieldValidation": "Warn"})
        assert warned.status == 201
        assert warned.headers.getall("Warning") == ['299 - "unknown field \\"spec.extra\\""']
        deleted = await client.delete(f"{SERVICES}/hello", headers=AUTH,
                                      data=json.dumps({"propagationPolicy": "Background"}))
        assert deleted.status == 200
        assert (await client.get(f"{SERVICES}/hello", headers=AUTH)).status == 404

    run(scenario)


def test_the_service_proxy_serves_a_components_endpoint_and_404s_the_rest() -> None:
    from aiohttp import web

    async def main() -> None:
        registry = Registry(Store())
        bootstrap(registry)
        server = ApiServer(registry, TOKEN)

        async def metrics(request: web.Request, path: str) -> web.Response:
            return web.Response(text=f"served {path}")

        server.add_service_proxy("knative-serving", "autoscaler:http-metrics", metrics)
        async with TestClient(TestServer(server.app())) as client:
            base = "/api/v1/namespaces/knative-serving/services"
            served = await client.get(f"{base}/autoscaler:http-metrics/proxy/metrics", headers=AUTH)
            assert served.status == 200 and await served.text() == "served /metrics"
            assert (await client.get(f"{base}/autoscaler:http-metrics/proxy/metrics")).status == 401
            missing = await client.get(f"{base}/activator-service:http-metrics/proxy/metrics", headers=AUTH)
            assert missing.status == 404
            assert (await missing.json())["message"] == 'services "activator-service" not found'

    asyncio.run(main())
