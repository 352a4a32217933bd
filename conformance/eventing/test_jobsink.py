"""JobSink (sinks.knative.dev/v1alpha1): Knative's job-sink-logger applied as the docs give it becomes Ready at
the job-sink address; the docs' curl event answers 202 and starts a Job whose pod prints the event, as JSON, from
/etc/jobsink-event/event; the same source and id start no second Job; the docs' failure example ends in a Job
Failed by its podFailurePolicy; malformed events and unknown JobSinks answer 400; bad specs are refused naming
the field."""

from __future__ import annotations

import json

import pytest
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from conformance.eventing.docs_support import JOB, JOB_SINK, apply_example, pod_log
from conformance.eventing.support import Bench
from conformance.helpers import assert_invalid, eventually, refused, unique
from kproof.target import Target, condition_status

DOCS = "https://knative.dev/docs/eventing/sinks/job-sink/"
# The docs' `kubectl run curl ... -- -X POST -v -H ... -d '{"details":"JobSinkDemo"}' <address>`
CURL_HEADERS = {"content-type": "application/json", "ce-specversion": "1.0", "ce-source": "my/curl/command",
                "ce-type": "my.demo.event", "ce-id": "123"}
CURL_BODY = '{"details":"JobSinkDemo"}'
DOCS_OUTPUT = ('{"specversion":"1.0","id":"123","source":"my/curl/command","type":"my.demo.event",'
               '"datacontenttype":"application/json","data":{"details":"JobSinkDemo"}}')


@pytest.fixture(autouse=True)
def _served(target: Target) -> None:
    try:
        target.resource(*JOB_SINK)
    except ResourceNotFoundError:
        pytest.skip("the target does not serve sinks.knative.dev/v1alpha1 JobSink")


def jobs_of(bench: Bench, sink: dict) -> list[dict]:
    return bench.target.list(*JOB, bench.namespace, label_selector=sink["status"]["job"]["selector"])


def finished(job: dict | None, condition: str) -> bool:
    return job is not None and condition_status(job, condition) == "True"


@pytest.mark.spec("MUST", "alpha", source=DOCS)
def test_the_docs_job_sink_starts_a_job_that_reads_the_event_from_its_file(bench: Bench) -> None:
    target, namespace = bench.target, bench.namespace
    applied = apply_example(target, "jobsink", "job-sink-logger.yaml", namespace=namespace)
    assert [o["kind"] for o in applied] == ["JobSink"]
    sink = target.wait_for(*JOB_SINK, "job-sink-logger", namespace, timeout=60)
    url = sink["status"]["address"]["url"]
    assert url == f"http://job-sink.knative-eventing.svc.cluster.local/{namespace}/job-sink-logger"
    assert sink["status"]["job"]["selector"] == "sinks.knative.dev/job-sink-name=job-sink-logger"

    answer = bench.forward(url, method="POST", headers=CURL_HEADERS, body=CURL_BODY)
    assert answer["status"] == 202, answer
    location = next(v for k, v in answer["headers"].items() if k.lower() == "location")
    assert location == f"/namespaces/{namespace}/name/job-sink-logger/sources/my%2Fcurl%2Fcommand/ids/123"

    created = eventually(lambda: jobs_of(bench, sink), 30, "a Job for the event")
    assert isinstance(created, list) and len(created) == 1
    job_name = created[0]["metadata"]["name"]
    assert job_name.startswith("job-sink-logger-")
    labels = created[0]["metadata"]["labels"]
    assert labels["sinks.knative.dev/job-sink-id"] == job_name
    done = target.wait_until(*JOB, job_name, lambda j: finished(j, "Complete") or finished(j, "Failed"), namespace,
                             120, what="finished")
    assert done is not None and finished(done, "Complete"), done.get("status") if done else None
    assert done["status"]["succeeded"] == 1 and done["status"].get("completionTime")
    secret = target.get("v1", "Secret", job_name, namespace)
    assert secret is not None and secret.get("immutable") is True, "the event is kept in an immutable Secret"

    printed = pod_log(target, namespace, f"batch.kubernetes.io/job-name={job_name}", "main", ready_only=False)
    assert printed.strip() == DOCS_OUTPUT, "the pod prints the event as the docs show it"
    assert json.loads(printed)["data"] == {"details": "JobSinkDemo"}

    again = bench.forward(url, method="POST", headers=CURL_HEADERS, body=CURL_BODY)
    assert again["status"] == 202
    assert [j["metadata"]["name"] for j in jobs_of(bench, sink)] == [job_name], "one Job per source and id"
    status = bench.forward(f"http://job-sink.knative-eventing.svc.cluster.local{location}", method="GET")
    assert status["status"] == 200, "a finished Job's event answers 200 at its Location"


@pytest.mark.spec("MUST", "alpha", source=DOCS)
def test_the_docs_failure_example_fails_the_job_by_its_pod_failure_policy(bench: Bench) -> None:
    target, namespace = bench.target, bench.namespace
    apply_example(target, "jobsink", "job-sink-failure.yaml", namespace=namespace)
    sink = target.wait_for(*JOB_SINK, "job-sink-failure", namespace, timeout=60)
    headers = {**CURL_HEADERS, "ce-id": unique("fail")}
    answer = bench.forward(sink["status"]["address"]["url"], method="POST", headers=headers, body=CURL_BODY)
    assert answer["status"] == 202, answer
    created = eventually(lambda: jobs_of(bench, sink), 30, "a Job for the event")
    assert isinstance(created, list)
    job = created[0]
    assert job["metadata"]["labels"]["my-label"] == "my-value", "the template's labels are the Job's"
    failed = target.wait_until(*JOB, job["metadata"]["name"], lambda j: finished(j, "Failed"), namespace, 90,
                               what="Failed")
    assert failed is not None
    reason = next(c for c in failed["status"]["conditions"] if c["type"] == "Failed")
    assert reason["reason"] == "PodFailurePolicy" and "exit code 42" in reason["message"], reason
    assert failed["status"].get("failed", 0) >= 1 and not failed["status"].get("succeeded")


@pytest.mark.spec("MUST", "alpha", source=DOCS)
def test_malformed_events_and_unknown_job_sinks_answer_400(bench: Bench) -> None:
    apply_example(bench.target, "jobsink", "job-sink-logger.yaml", namespace=bench.namespace)
    url = bench.target.wait_for(*JOB_SINK, "job-sink-logger", bench.namespace, timeout=60)["status"]["address"]["url"]
    missing_id = {k: v for k, v in CURL_HEADERS.items() if k != "ce-id"}
    assert bench.forward(url, method="POST", headers=missing_id, body=CURL_BODY)["status"] == 400
    unknown = url.rsplit("/", 1)[0] + "/nobody"
    assert bench.forward(unknown, method="POST", headers=CURL_HEADERS, body=CURL_BODY)["status"] == 400


def job_sink(name: str, namespace: str, job: dict | None) -> dict:
    return {"apiVersion": JOB_SINK[0], "kind": JOB_SINK[1], "metadata": {"name": name, "namespace": namespace},
            "spec": {"job": job} if job is not None else {}}


@pytest.mark.spec("MUST", "alpha", source=DOCS)
@pytest.mark.parametrize("job", [None, {"spec": {"template": {"spec": {"restartPolicy": "Always", "containers": [
    {"name": "main", "image": "docker.io/library/bash:5"}]}}}}], ids=["no job", "restartPolicy Always"])
def test_bad_specs_are_refused_naming_the_field(target: Target, namespace: str, job: dict | None) -> None:
    assert_invalid(refused(lambda: target.create(job_sink(unique("bad"), namespace, job))), "spec.job")
