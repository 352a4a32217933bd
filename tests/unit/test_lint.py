"""`kproof lint`'s rules: each one fails on a manifest that breaks it and passes on one that follows it,
findings sit on the line of their field, and the seeds' own manifests give what seed 004 predicts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kproof.lint.engine import lint_file, lint_paths
from kproof.lint.manifests import format_path
from kproof.lint.rules import RULES, Finding, Options

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "fixtures" / "manifests"
IMAGE = "gcr.io/knative-samples/helloworld-go"
A = "autoscaling.knative.dev/"
PROBE = {"httpGet": {"path": "/health"}}


def service(annotations: dict | None = None, container: dict | None = None, **spec: object) -> dict:
    template: dict = {"spec": {"containers": [{"image": IMAGE, **(container or {})}], **spec}}
    if annotations:
        template["metadata"] = {"annotations": {A + k if "/" not in k else k: v for k, v in annotations.items()}}
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "svc", "namespace": "default"}, "spec": {"template": template}}


def gpu_service(annotations: dict | None = None, container: dict | None = None, **spec: object) -> dict:
    """A GPU Service that follows seed 004 unless told otherwise (a None annotation is left out)."""
    wanted = {"max-scale": "2", **(annotations or {})}
    gpu = {"resources": {"limits": {"nvidia.com/gpu": "1"}}, "readinessProbe": PROBE, **(container or {})}
    return service({k: v for k, v in wanted.items() if v is not None}, gpu, **spec)


def model_server(container: dict, volumes: list | None = None) -> dict:
    return service(None, {"readinessProbe": PROBE, **container}, **({"volumes": volumes} if volumes else {}))


def lint(tmp_path: Path, *docs: dict | str, **options: float) -> list[Finding]:
    text = "---\n".join(d if isinstance(d, str) else yaml.safe_dump(d, sort_keys=False) for d in docs)
    file = tmp_path / "manifest.yaml"
    file.write_text(text)
    return lint_file(file, Options(**options))


def ids(findings: list[Finding]) -> set[str]:
    return {f.rule.id for f in findings}


PVC = [{"name": "models", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}}]
MOUNT = [{"name": "models", "mountPath": "/data/models", "readOnly": True}]
INTENT = "registry.cn-hangzhou.aliyuncs.com/ai-samples/bert-intent-detection:1.0.1"

# (rule, a manifest that breaks it, one that follows it, options)
CASES = [
    ("KP001", gpu_service(containerConcurrency=2), gpu_service(containerConcurrency=1), {}),
    ("KP001", gpu_service(), gpu_service(containerConcurrency=1), {}),
    ("KP001", service(None, {"resources": {"limits": {"aliyun.com/gpu-mem": "3"}}}, containerConcurrency=4),
     service(None, {"resources": {"limits": {"cpu": "1"}}}, containerConcurrency=4), {}),
    ("KP002", gpu_service({"target": "4"}, containerConcurrency=1),
     gpu_service({"target": "1"}, containerConcurrency=1), {}),
    ("KP003", gpu_service({"metric": "rps"}, containerConcurrency=1),
     gpu_service({"metric": "concurrency"}, containerConcurrency=1), {}),
    ("KP004", gpu_service({"max-scale": None}, containerConcurrency=1), gpu_service(containerConcurrency=1), {}),
    ("KP004", gpu_service({"max-scale": "0"}, containerConcurrency=1),
     gpu_service({"max-scale": None, "maxScale": "3"}, containerConcurrency=1), {}),
    ("KP005", service({"target": "5"}, containerConcurrency=10),
     service({"target": "10"}, containerConcurrency=10), {}),
    ("KP005", service({"target": "5"}, containerConcurrency=10),
     service({"target": "200", "metric": "rps"}, containerConcurrency=10), {}),
    ("KP006", gpu_service({}, {"readinessProbe": None}, containerConcurrency=1),
     gpu_service(containerConcurrency=1), {}),
    ("KP006", service(None, {"image": "mihaitodor/benthos-vader:latest"}),
     service(None, {"image": "mihaitodor/benthos-vader:latest", "readinessProbe": {"httpGet": {"path": "/ready"}}}),
     {}),
    ("KP006", service(None, {"env": [{"name": "MODEL_PATH", "value": "s3://bucket/model"}]}), service(), {}),
    ("KP007", model_server({"image": INTENT}), model_server({"image": INTENT, "volumeMounts": MOUNT}, PVC), {}),
    ("KP007", model_server({"env": [{"name": "MODEL_DIR", "value": "/data/models/intent"}]}),
     model_server({"env": [{"name": "MODEL_DIR", "value": "/data/models/intent"}], "volumeMounts": MOUNT}, PVC), {}),
    ("KP007", model_server({"image": "nvcr.io/nvidia/tritonserver:24.01-py3", "args": ["--model-repository=/models"]}),
     model_server({"image": "nvcr.io/nvidia/tritonserver:24.01-py3", "args": ["--model-repository", "s3://b/m"]}),
     {}),
    ("KP007", model_server({"image": INTENT, "volumeMounts": MOUNT}, [{"name": "models", "emptyDir": {}}]),
     model_server({"image": INTENT, "env": [{"name": "MODEL_DIR", "value": "gs://bucket/models"}]}), {}),
    ("KP008", service({"window": "50s"}), service({"window": "60s"}), {"startup": 30}),
    ("KP008", service(), service({"window": "70s"}), {"startup": 31}),
    ("KP009", service({"window": "30s", "panic-window-percentage": "10.0"}),
     service({"window": "60s", "panic-window-percentage": "60"}), {"startup": 30}),
    ("KP009", service({"window": "60s", "panic-window-percentage": "50"}),
     service({"window": "60s", "panic-window-percentage": "51"}), {"startup": 30}),
    ("KP010", service(timeoutSeconds=5), service(timeoutSeconds=6), {"response_seconds": 5}),
    ("KP010", service(), service(timeoutSeconds=360), {"response_seconds": 300}),
    ("KP011", {"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "Channel", "metadata": {"name": "c"}},
     {"apiVersion": "messaging.knative.dev/v1", "kind": "Channel", "metadata": {"name": "c"}}, {}),
    ("KP011", {**service(), "apiVersion": "serving.knative.dev/v1alpha1"}, service(), {}),
    ("KP012", {**service(), "spec": {"runLatest": {"configuration": {"revisionTemplate": {
        "spec": {"container": {"image": IMAGE}}}}}}}, service(), {}),
    ("KP012", {**service(), "spec": {"template": {"spec": {"container": {"image": IMAGE}}}}}, service(), {}),
    ("KP012", {**service(), "spec": {**service()["spec"], "traffic": [{"name": "v1", "percent": 100,
                                                                        "latestRevision": True}]}},
     {**service(), "spec": {**service()["spec"], "traffic": [{"tag": "v1", "percent": 100, "latestRevision": True}]}},
     {}),
    ("KP013", {"apiVersion": "sources.knative.dev/v1alpha1", "kind": "KafkaSource", "metadata": {"name": "k"},
               "spec": {"bootstrapServers": "b:9092", "topics": "demo", "sink": {"uri": "http://x"}}},
     {"apiVersion": "sources.knative.dev/v1beta1", "kind": "KafkaSource", "metadata": {"name": "k"},
      "spec": {"bootstrapServers": ["b:9092"], "topics": ["demo"], "sink": {"uri": "http://x"}}}, {}),
    ("KP014", service({"minScale": "1", "min-scale": "1"}), service({"min-scale": "1"}), {}),
    ("KP015", service({"minScale": "1", "maxScale": "3"}), service({"min-scale": "1", "max-scale": "3"}), {}),
    ("KP016", service({"target": 1}), service({"target": "1"}), {}),
    ("KP017", "apiVersion: v1\nkind: [ConfigMap\n", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", {}),
    ("KP018", "metadata: {name: c}\n", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", {}),
    ("KP019", service({"min-scale": "5", "max-scale": "2"}), service({"min-scale": "2", "max-scale": "5"}), {}),
    ("KP019", service(containerConcurrency=1001), service(containerConcurrency=1000), {}),
    ("KP020", model_server({"image": INTENT, "volumeMounts": MOUNT}, PVC),
     model_server({"image": INTENT, "volumeMounts": MOUNT},
                  [{"name": "models", "configMap": {"name": "small-model"}}]), {}),
    ("KP021", service({"class": "xpa.autoscaling.knative.dev", "pod-buffer-size": "3"}),
     service({"class": "kpa.autoscaling.knative.dev"}), {}),
    ("KP021", service({"k8s.aliyun.com/eci-use-specs": "ecs.gn6i-c4g1.xlarge"}), service(), {}),
    ("KP021", {"apiVersion": "scheduling.alibabacloud.com/v1alpha1", "kind": "ResourcePolicy",
               "metadata": {"name": "p"}, "spec": {"selector": {"app": "a"}, "units": [{"resource": "ecs"}]}},
     service(), {}),
    ("KP022", {"apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset", "metadata": {"name": "oss-data"},
               "spec": {"mounts": [{"mountPoint": "oss://bucket/models", "name": "models"}]}},
     {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "oss-data"},
      "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "1Gi"}}}}, {}),
]


@pytest.mark.parametrize(("rule", "breaks", "follows", "options"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_fails_and_passes(tmp_path: Path, rule: str, breaks: dict | str, follows: dict | str,
                               options: dict) -> None:
    failing = lint(tmp_path, breaks, **options)
    assert rule in ids(failing), [f.message for f in failing]
    passing = lint(tmp_path, follows, **options)
    assert rule not in ids(passing), [f.message for f in passing if f.rule.id == rule]


def test_every_rule_has_a_failing_and_a_passing_case() -> None:
    assert {c[0] for c in CASES} == set(RULES)


def test_a_gpu_service_as_seed_004_writes_it_has_no_findings(tmp_path: Path) -> None:
    good = gpu_service({"target": "1", "window": "60s", "panic-window-percentage": "55"}, containerConcurrency=1,
                       timeoutSeconds=6)
    assert lint(tmp_path, good, startup=30, response_seconds=5) == []


def test_options_off_means_their_rules_off(tmp_path: Path) -> None:
    assert ids(lint(tmp_path, service({"window": "6s"}), service(timeoutSeconds=1))) == set()


def test_findings_sit_on_the_line_of_their_field(tmp_path: Path) -> None:
    text = """\
# a GPU service
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: gpu
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/minScale: "1"
        autoscaling.knative.dev/target: 4
    spec:
      containerConcurrency: 2
      containers:
        - image: ghcr.io/kproof/intent
          resources:
            limits:
              nvidia.com/gpu: "1"
"""
    found = {(f.rule.id, f.line, f.column, format_path(f.path)) for f in lint(tmp_path, text)}
    annotations = "spec.template.metadata.annotations."
    assert found == {
        ("KP015", 10, 9, annotations + "autoscaling.knative.dev/minScale"),
        ("KP016", 11, 9, annotations + "autoscaling.knative.dev/target"),
        ("KP001", 13, 7, "spec.template.spec.containerConcurrency"),
        ("KP002", 11, 9, annotations + "autoscaling.knative.dev/target"),
        ("KP004", 9, 7, annotations + "autoscaling.knative.dev/max-scale"),  # absent: its annotations
        ("KP006", 15, 11, "spec.template.spec.containers[0].readinessProbe"),  # absent: its container
        ("KP007", 15, 11, "spec.template.spec.containers[0].image"),
    }


def test_documents_keep_their_own_lines_and_index(tmp_path: Path) -> None:
    found = lint(tmp_path, service(), gpu_service(containerConcurrency=3))
    (gpu,) = found
    assert gpu.rule.id == "KP001" and gpu.document == 1 and gpu.object == "Service/svc"
    assert (tmp_path / "manifest.yaml").read_text().splitlines()[gpu.line - 1].strip() == "containerConcurrency: 3"


def test_a_syntax_error_keeps_the_documents_before_it(tmp_path: Path) -> None:
    found = lint(tmp_path, gpu_service(containerConcurrency=2), "kind: [Service\n")
    assert [f.rule.id for f in found] == ["KP001", "KP017"]
    text = (tmp_path / "manifest.yaml").read_text().splitlines()
    assert found[1].line > text.index("---")


def test_duplicate_keys_are_a_syntax_error(tmp_path: Path) -> None:
    (found,) = lint(tmp_path, "apiVersion: v1\nkind: ConfigMap\nkind: Secret\n")
    assert found.rule.id == "KP017" and found.line == 3 and "duplicate key" in found.message


def test_a_scalar_document_is_not_an_object(tmp_path: Path) -> None:
    (found,) = lint(tmp_path, "just text\n")
    assert found.rule.id == "KP018"


def test_twins_are_one_error_not_also_an_admission_error(tmp_path: Path) -> None:
    found = lint(tmp_path, service({"maxScale": "3", "max-scale": "5"}))
    assert [f.rule.id for f in found] == ["KP014"]
    assert "disagree" in found[0].message


def test_unquoted_annotation_is_one_error_not_also_an_admission_error(tmp_path: Path) -> None:
    assert [f.rule.id for f in lint(tmp_path, service({"target": 1}))] == ["KP016"]


def test_the_feature_flag_is_named(tmp_path: Path) -> None:
    (found,) = lint(tmp_path, model_server({"image": INTENT, "volumeMounts": MOUNT}, PVC))
    assert found.rule.id == "KP020" and "kubernetes.podspec-persistent-volume-claim" in found.message


def test_a_revision_and_a_configuration_are_checked_like_a_service(tmp_path: Path) -> None:
    svc = gpu_service(containerConcurrency=2)
    configuration = {**svc, "kind": "Configuration"}
    revision = {"apiVersion": "serving.knative.dev/v1", "kind": "Revision", "metadata": {"name": "r"},
                "spec": svc["spec"]["template"]["spec"]}
    found = lint(tmp_path, configuration, revision)
    assert sorted((f.document, f.rule.id) for f in found if f.rule.id == "KP001") == [(0, "KP001"), (1, "KP001")]


def test_the_panic_window_rounds_as_knative_does(tmp_path: Path) -> None:
    # 25 s x 10% = 2.5 s, which Knative (Go's Duration.Round) makes 3 s, not 2 s (Python's round)
    assert "KP009" in ids(lint(tmp_path, service({"window": "25s"}), startup=3))
    assert "KP009" not in ids(lint(tmp_path, service({"window": "25s"}), startup=2.9))


def test_timeout_at_exactly_one_point_two_times_passes(tmp_path: Path) -> None:
    # seed 004's example: a 5 s response wants timeoutSeconds 6 (1.2 x 5 is 6.000000000000001 in floats)
    assert lint(tmp_path, service(timeoutSeconds=6), response_seconds=5) == []
    (found,) = lint(tmp_path, service(), response_seconds=300)
    assert "300 (the default)" in found.message and "set it to 360" in found.message


# The seeds' own manifests, and what a reader of seed 004 expects of each (no --startup, no --response-seconds).
SEED_FINDINGS = {
    "eventing/broker-demo.yaml": set(),
    # event-display writes the seed's minScale/maxScale
    # ... and keeps ACK's retry annotations on the KafkaSource
    "seed-000/kafka-event-display.yaml": {"KP015", "KP021"},
    "seed-000/kafka-source-v1alpha1.yaml": {"KP013", "KP021"},
    # the seed's xpa Service: ACK's class, ingress class and flow controller
    "seed-000/event-display-xpa.yaml": {"KP015", "KP021"},
    "seed-001/kafka-source-v1alpha1.yaml": {"KP013", "KP021"},
    "seed-001/kafka-source.yaml": {"KP021"},
    "seed-001/models.yaml": set(),
    # a GPU with two requests at a time, no readiness probe, camelCase bounds, and a claim that needs
    # config-features' kubernetes.podspec-persistent-volume-claim; the model itself is on the volume
    "seed-001/test-ai-process.yaml": {"KP001", "KP006", "KP015", "KP020", "KP021"},
    # the same, as the seed prints it: the model in the image
    "seed-001/test-ai-process-as-written.yaml": {"KP001", "KP006", "KP007", "KP015", "KP021"},
    # the sentiment model server answers as soon as it listens: no readiness probe
    "seed-002/benthos-vader.yaml": {"KP006"},
    "seed-003/channel-subscription.yaml": set(),
    "seed-003/models.yaml": set(),
    "seed-003/receiver.yaml": set(),
    "seed-003/source.yaml": set(),
    # the Secret keeps the seed's placeholders (not base64 until filled in), and the Configurations mount the
    # models claim, which needs config-features' kubernetes.podspec-persistent-volume-claim
    "seed-003/split-traffic.yaml": {"KP019", "KP020"},
    "seed-004/config-autoscaler.yaml": set(),
    "seed-004/config-observability.yaml": set(),
    "seed-004/helloworld-autoscaling.yaml": set(),
    # GPU sharing: one request at a time, but no max-scale and no readiness probe
    "seed-004/helloworld-go-gpu-sharing.yaml": {"KP004", "KP006"},
    "seed-004/helloworld-go-timeout.yaml": set(),
    "seed-004/helloworld-go.yaml": set(),
    "seed-004/invalid-min-over-max.yaml": {"KP019"},
    "seed-004/resource-policy.yaml": {"KP021"},
    "seed-004/runtime-probes.yaml": set(),
    # model storage: Fluid's kinds and ACK's ImageCache name what a cluster needs; the Service mounts a claim
    # (written, not read-only) and its model server has no readiness probe
    "seed-004/model-storage-secret.yaml": set(),
    "seed-004/model-storage-fluid.yaml": {"KP022"},
    "seed-004/oss-data-pvc.yaml": set(),
    "seed-004/oss-data-fill.yaml": set(),
    "seed-004/sd-backend.yaml": {"KP006", "KP020"},
    "seed-004/image-cache.yaml": set(),
    "seed-004/imagecache-eci.yaml": {"KP021", "KP022"},
}


def test_the_seeds_manifests_give_what_seed_004_predicts() -> None:
    report = lint_paths([MANIFESTS], Options())
    found: dict[str, set[str]] = {}
    for f in report.findings:
        found.setdefault(Path(f.file).relative_to(MANIFESTS).as_posix(), set()).add(f.rule.id)
    listed = {name: found.get(name, set()) for name in SEED_FINDINGS}
    assert listed == SEED_FINDINGS
    assert all((MANIFESTS / name).exists() for name in SEED_FINDINGS)
    # manifests added since are at least YAML objects
    assert not {rule for name, rules in found.items() if name not in SEED_FINDINGS for rule in rules} & {
        "KP017", "KP018"}


def test_seed_004_with_its_own_numbers() -> None:
    """A 25 s start-up: the 50 s window is twice it (fine), its 10% panic window (5 s) is not above it.
    A 5 s response: the 6 s timeout is 1.2 times it (fine)."""
    autoscaling = lint_paths([MANIFESTS / "seed-004" / "helloworld-autoscaling.yaml"], Options(startup=25))
    assert [f.rule.id for f in autoscaling.findings] == ["KP009"]
    timeout = lint_paths([MANIFESTS / "seed-004" / "helloworld-go-timeout.yaml"], Options(response_seconds=5))
    assert timeout.findings == []
    late = lint_paths([MANIFESTS / "seed-004" / "helloworld-go-timeout.yaml"], Options(response_seconds=6))
    assert [f.rule.id for f in late.findings] == ["KP010"]


def test_seed_001_as_the_seed_writes_it_bakes_the_model_in(tmp_path: Path) -> None:
    doc = yaml.safe_load((MANIFESTS / "seed-001" / "test-ai-process.yaml").read_text())
    spec = doc["spec"]["template"]["spec"]
    del spec["volumes"], spec["containers"][0]["volumeMounts"]
    assert ids(lint(tmp_path, doc)) == {"KP001", "KP006", "KP007", "KP015", "KP021"}


def test_a_container_concurrency_that_is_not_a_number_is_left_to_admission(tmp_path: Path) -> None:
    assert ids(lint(tmp_path, gpu_service(containerConcurrency="1"))) == {"KP019"}


def test_a_v1alpha1_form_in_v1_is_one_finding_and_unknown_fields_are_refused(tmp_path: Path) -> None:
    run_latest = {**service(), "spec": {"runLatest": {"configuration": {"revisionTemplate": {
        "spec": {"containers": [{"image": IMAGE}]}}}}}}
    assert [f.rule.id for f in lint(tmp_path, run_latest)] == ["KP012"]
    (unknown,) = lint(tmp_path, service(containres=[]))
    assert unknown.rule.id == "KP019" and format_path(unknown.path) == "spec.template.spec.containres"
    assert "unknown field 'containres'" in unknown.message


def test_a_writable_claim_needs_two_flags(tmp_path: Path) -> None:
    writable = [{"name": "models", "persistentVolumeClaim": {"claimName": "models"}}]
    (found,) = lint(tmp_path, model_server({"image": INTENT, "volumeMounts": [{"name": "models",
                                                                               "mountPath": "/data/models"}]},
                                           writable))
    assert found.rule.id == "KP020"
    assert ("enable kubernetes.podspec-persistent-volume-claim and kubernetes.podspec-persistent-volume-write"
            in found.message)
