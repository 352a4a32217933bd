import copy

import pytest

from reference.apiserver.admission.serving import (
    default_service,
    validate_revision,
    validate_route,
    validate_service,
)
from tests.unit.admission_helpers import context

IMAGE = "gcr.io/knative-samples/helloworld-go"


def ksvc(**template_spec: object) -> dict:
    return {"metadata": {"name": "hello", "namespace": "default"},
            "spec": {"template": {"spec": {"containers": [{"image": IMAGE}], **template_spec}}}}


def admitted(obj: dict, old: dict | None = None, **config: dict) -> tuple[dict, str | None]:
    ctx = context("UPDATE" if old else "CREATE", **config)
    default_service(obj, old, ctx)
    problem = validate_service(obj, old, ctx)
    return obj, str(problem) if problem else None


def test_defaults_match_knative() -> None:
    obj, problem = admitted(ksvc())
    assert problem is None
    spec = obj["spec"]["template"]["spec"]
    assert spec == {"containers": [{"image": IMAGE, "name": "user-container", "resources": {},
                                    "readinessProbe": {"tcpSocket": {"port": 0}, "successThreshold": 1}}],
                    "containerConcurrency": 0, "timeoutSeconds": 300, "enableServiceLinks": False}
    assert obj["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]
    assert obj["metadata"]["annotations"] == {"serving.knative.dev/creator": "tester",
                                              "serving.knative.dev/lastModifier": "tester"}


def test_defaults_follow_config_defaults() -> None:
    obj, _ = admitted(ksvc(), config_defaults={"revision-timeout-seconds": "120", "container-concurrency": "4"})
    assert obj["spec"]["template"]["spec"]["timeoutSeconds"] == 120
    assert obj["spec"]["template"]["spec"]["containerConcurrency"] == 4


def test_probe_thresholds_default_when_a_period_is_set() -> None:
    obj, _ = admitted(ksvc(containers=[{"image": IMAGE, "readinessProbe": {
        "httpGet": {"path": "/health"}, "periodSeconds": 5}}]))
    probe = obj["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe == {"httpGet": {"path": "/health"}, "periodSeconds": 5, "successThreshold": 1,
                     "failureThreshold": 3, "timeoutSeconds": 1}


@pytest.mark.parametrize(("template_spec", "message"), [
    ({"containerConcurrency": 1001}, "expected 0 <= 1001 <= 1000: spec.template.spec.containerConcurrency"),
    ({"timeoutSeconds": 601}, "expected 0 <= 601 <= 600: spec.template.spec.timeoutSeconds"),
    ({"containers": []}, "missing field(s): spec.template.spec.containers"),
    ({"containers": [{"name": "x"}]}, "missing field(s): spec.template.spec.containers[0].image"),
    ({"containers": [{"image": IMAGE, "env": [{"name": "PORT", "value": "1"}]}]},
     '"PORT" is a reserved environment variable: spec.template.spec.containers[0].env[0].name'),
    ({"containers": [{"image": IMAGE, "ports": [{"containerPort": 9090}]}]},
     "invalid value: 9090 is a reserved port: spec.template.spec.containers[0].ports.containerPort\n"
     "9090 is a reserved port, please use a different value"),
    ({"containers": [{"image": IMAGE, "ports": [{"name": "grpc", "containerPort": 8080}]}]},
     "Port name grpc is not allowed: spec.template.spec.containers[0].ports\n"
     "Name must be empty, or one of: 'h2c', 'http1'"),
    ({"containers": [{"image": IMAGE, "ports": [{"containerPort": 8080}]}, {"image": IMAGE, "ports": [
        {"containerPort": 8081}]}]},
     "more than one container port is set: spec.template.spec.containers[*].ports\n"
     "Only a single port is allowed across all containers"),
    ({"containers": [{"image": IMAGE, "readinessProbe": {"httpGet": {}, "tcpSocket": {}}}]},
     "expected exactly one, got both: spec.template.spec.containers[0].readinessProbe.httpGet, "
     "spec.template.spec.containers[0].readinessProbe.tcpSocket"),
    ({"containers": [{"image": IMAGE, "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
      "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "models"}}]},
     "Persistent volume claim support is disabled, but found persistent volume claim models: "),
    ({"containers": [{"image": IMAGE, "volumeMounts": [{"name": "gone", "mountPath": "/data"}]}]},
     "volumeMount has no matching volume: spec.template.spec.containers[0].volumeMounts[0].name"),
    ({"nodeName": "n1"}, "must not set the field(s): spec.template.spec.nodeName"),
])
def test_invalid_template(template_spec: dict, message: str) -> None:
    assert admitted(ksvc(**template_spec))[1] == message


def test_pvc_needs_its_features() -> None:
    def spec(claim_read_only: bool, mount_read_only: bool) -> dict:
        mount = {"name": "data", "mountPath": "/data/models", "readOnly": mount_read_only}
        return {"containers": [{"image": IMAGE, "volumeMounts": [mount]}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "oss-data",
                                                                       "readOnly": claim_read_only}}]}

    claims = {"kubernetes.podspec-persistent-volume-claim": "enabled"}
    assert admitted(ksvc(**spec(True, True)), config_features=claims)[1] is None
    assert admitted(ksvc(**spec(True, False)), config_features=claims)[1] == (
        "volume is readOnly but volume mount is not: spec.template.spec.containers[0].volumeMounts[0].readOnly")
    assert admitted(ksvc(**spec(False, False)), config_features=claims)[1] == (
        "Persistent volume write support is disabled, but found persistent volume claim oss-data that is not "
        "read-only: ")
    writes = {**claims, "kubernetes.podspec-persistent-volume-write": "enabled"}
    assert admitted(ksvc(**spec(False, False)), config_features=writes)[1] is None


def test_traffic_rules() -> None:
    obj = ksvc()
    obj["spec"]["traffic"] = [{"revisionName": "hello-00001", "percent": 50, "tag": "blue"},
                              {"latestRevision": True, "percent": 40, "tag": "blue"}]
    assert admitted(obj)[1] == ('Multiple definitions for "blue": spec.traffic[0].tag, spec.traffic[1].tag\n'
                                "Traffic targets sum to 90, want 100: spec.traffic")


def test_route_needs_a_target_per_entry() -> None:
    route = {"metadata": {"name": "r"}, "spec": {"traffic": [{"percent": 100}]}}
    problem = validate_route(route, None, context())
    assert str(problem) == ("expected exactly one, got neither: spec.traffic[0].configurationName, "
                            "spec.traffic[0].revisionName")


def test_autoscaling_annotations_belong_on_the_template() -> None:
    obj = ksvc()
    obj["metadata"]["annotations"] = {"autoscaling.knative.dev/min-scale": "1"}
    assert admitted(obj)[1] == ('invalid key name "autoscaling.knative.dev/min-scale": metadata.annotations\n'
                                'autoscaling annotations must be put under "spec.template.metadata.annotations" '
                                "to work")


def test_bring_your_own_revision_name() -> None:
    obj = ksvc()
    obj["spec"]["template"]["metadata"] = {"name": "hello-v1"}
    first, problem = admitted(obj)
    assert problem is None
    changed = copy.deepcopy(first)
    changed["spec"]["template"]["spec"]["containerConcurrency"] = 3
    assert admitted(changed, first)[1].startswith(
        "Saw the following changes without a name change (-old +new): spec.template.metadata.name")
    wrong = ksvc()
    wrong["spec"]["template"]["metadata"] = {"name": "other-v1"}
    assert admitted(wrong)[1] == 'invalid value: "other-v1" must have prefix "hello-": spec.template.metadata.name'


def test_creator_is_immutable() -> None:
    first, _ = admitted(ksvc())
    changed = copy.deepcopy(first)
    changed["metadata"]["annotations"]["serving.knative.dev/creator"] = "someone-else"
    assert admitted(changed, first)[1] == ("annotation value is immutable: "
                                           "metadata.annotations.serving.knative.dev/creator")


def test_revision_spec_is_immutable() -> None:
    revision = {"metadata": {"name": "hello-00001"}, "spec": {"containers": [{"image": IMAGE}]}}
    changed = copy.deepcopy(revision)
    changed["spec"]["containerConcurrency"] = 2
    assert str(validate_revision(changed, revision, context("UPDATE"))) == "Immutable fields changed (-old +new): spec"


def test_service_name_must_be_a_dns_1035_label() -> None:
    obj = ksvc()
    obj["metadata"]["name"] = "1hello"
    assert admitted(obj)[1].startswith("not a DNS 1035 label: [a DNS-1035 label must consist of lower case")
