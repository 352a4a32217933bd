"""`kproof lint --fix`: deprecated forms rewritten in place, the rest of the file kept, and what comes out
passes the form rules and the reference's admission."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import yaml

from kproof.commands.lint import run
from kproof.lint.engine import lint_file
from kproof.lint.fix import fix_file
from kproof.lint.rules import Options
from reference.apiserver.admission.serving import default_service, validate_service
from reference.apiserver.admission.sources import default_kafka_source, validate_kafka_source
from tests.unit.admission_helpers import context

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "fixtures" / "manifests"
FORM_RULES = {"KP011", "KP012", "KP013", "KP014", "KP015", "KP016"}

# Seed 003's Service as its slides write it (v1alpha1, `runlatest`, one-space indents), beside a ConfigMap.
SEED_003 = """\
# seed 003: the receiver function
apiVersion: serving.knative.dev/v1alpha1
kind: Service
metadata:
 name: rgwpubsub-svc
 namespace: rgwpubsub
spec:
 runlatest:
   configuration:
     revisionTemplate:
       spec:
         container:
           image: docker.io/rootfs/rgwpubsub-knative-receiver  # the receiver
---
# kept as it is
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  threshold: "0.5"  # a string
"""


def write(tmp_path: Path, text: str, name: str = "manifest.yaml") -> Path:
    file = tmp_path / name
    file.write_text(text)
    return file


def form_findings(file: Path) -> set[str]:
    return {f.rule.id for f in lint_file(file, Options())} & FORM_RULES


def admitted_service(obj: dict) -> str | None:
    ctx = context()
    default_service(obj, None, ctx)
    problem = validate_service(obj, None, ctx)
    return str(problem) if problem else None


def test_seed_003_run_latest_becomes_v1(tmp_path: Path) -> None:
    file = write(tmp_path, SEED_003)
    assert form_findings(file) == {"KP011", "KP012"}
    changes = fix_file(file)
    assert {(c.rule, c.done) for c in changes} == {("KP011", True), ("KP012", True)}
    service, config_map = yaml.safe_load_all(file.read_text())
    assert service["apiVersion"] == "serving.knative.dev/v1"
    assert service["spec"] == {"template": {"spec": {"containers": [
        {"image": "docker.io/rootfs/rgwpubsub-knative-receiver"}]}}}
    assert config_map == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                          "data": {"threshold": "0.5"}}
    text = file.read_text()
    for kept in ("# seed 003: the receiver function", "# the receiver", "# kept as it is", "# a string"):
        assert kept in text
    assert form_findings(file) == set()
    assert admitted_service(service) is None


def test_fixing_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    file = write(tmp_path, SEED_003)
    fix_file(file)
    once = file.read_text()
    assert fix_file(file) == []
    assert file.read_text() == once


def test_pinned_and_release_get_the_traffic_knative_converted_them_to(tmp_path: Path) -> None:
    template = {"revisionTemplate": {"spec": {"container": {"image": "gcr.io/knative-samples/helloworld-go"}}}}
    docs = [{"apiVersion": "serving.knative.dev/v1alpha1", "kind": "Service", "metadata": {"name": name},
             "spec": {mode: {**body, "configuration": template}}}
            for name, mode, body in (("pinned", "pinned", {"revisionName": "pinned-00001"}),
                                     ("two", "release", {"revisions": ["two-00001", "two-00002"],
                                                         "rolloutPercent": 10}),
                                     ("latest", "release", {"revisions": ["latest-00001", "@latest"],
                                                            "rolloutPercent": 30}))]
    file = write(tmp_path, yaml.safe_dump_all(docs, sort_keys=False))
    fix_file(file)
    pinned, two, latest = yaml.safe_load_all(file.read_text())
    assert pinned["spec"]["traffic"] == [{"revisionName": "pinned-00001", "percent": 100}]
    assert two["spec"]["traffic"] == [{"revisionName": "two-00001", "percent": 90, "tag": "current"},
                                      {"revisionName": "two-00002", "percent": 10, "tag": "candidate"},
                                      {"tag": "latest", "latestRevision": True}]
    assert latest["spec"]["traffic"] == [{"revisionName": "latest-00001", "percent": 70, "tag": "current"},
                                         {"latestRevision": True, "percent": 30, "tag": "candidate"},
                                         {"tag": "latest", "latestRevision": True}]
    for service in (pinned, two, latest):
        assert service["apiVersion"] == "serving.knative.dev/v1"
        assert service["spec"]["template"]["spec"]["containers"][0]["image"].endswith("helloworld-go")
        assert admitted_service(service) is None
    assert form_findings(file) == set()


def test_manual_mode_is_left_alone(tmp_path: Path) -> None:
    text = "apiVersion: serving.knative.dev/v1alpha1\nkind: Service\nmetadata:\n  name: m\nspec:\n  manual: {}\n"
    file = write(tmp_path, text)
    changes = fix_file(file)
    assert [(c.rule, c.done) for c in changes] == [("KP012", False)]
    assert file.read_text() == text
    assert form_findings(file) == {"KP011", "KP012"}


def test_v1alpha1_kafka_source_becomes_v1beta1_with_lists(tmp_path: Path) -> None:
    file = tmp_path / "kafka-source-v1alpha1.yaml"
    shutil.copy(MANIFESTS / "seed-000" / "kafka-source-v1alpha1.yaml", file)
    before = file.read_text()
    changes = fix_file(file)
    assert {c.rule for c in changes} == {"KP013"}
    source = yaml.safe_load(file.read_text())
    assert source["apiVersion"] == "sources.knative.dev/v1beta1"
    assert source["spec"]["bootstrapServers"] == ["KAFKA_BOOTSTRAP"] and source["spec"]["topics"] == ["demo"]
    assert source["metadata"] == yaml.safe_load(before)["metadata"]
    assert "# Broker URL. Replace this with the URLs for your kafka cluster," in file.read_text()
    assert form_findings(file) == set()
    ctx = context()
    default_kafka_source(source, None, ctx)
    source["metadata"]["namespace"] = "default"
    assert validate_kafka_source(source, None, ctx) is None


def test_comma_separated_strings_split_into_lists(tmp_path: Path) -> None:
    file = write(tmp_path, "apiVersion: sources.knative.dev/v1alpha1\nkind: KafkaSource\nmetadata:\n  name: k\n"
                           "spec:\n  bootstrapServers: a:9092, b:9092,c:9092\n  topics: one,two\n"
                           "  sink:\n    uri: http://sink\n")
    fix_file(file)
    spec = yaml.safe_load(file.read_text())["spec"]
    assert spec["bootstrapServers"] == ["a:9092", "b:9092", "c:9092"] and spec["topics"] == ["one", "two"]


def test_annotations_become_kebab_case_and_twins_that_agree_go(tmp_path: Path) -> None:
    text = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: s
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/maxScale: "100"  # the seed's bound
        autoscaling.knative.dev/minScale: "1"
        autoscaling.knative.dev/min-scale: "1"
        autoscaling.knative.dev/initialScale: "2"
        autoscaling.knative.dev/initial-scale: "3"
        autoscaling.knative.dev/target: 10
    spec:
      containers:
      - image: gcr.io/knative-samples/helloworld-go
"""
    file = write(tmp_path, text)
    changes = fix_file(file)
    assert sorted((c.rule, c.done) for c in changes) == [
        ("KP014", False), ("KP014", True), ("KP015", True), ("KP016", True)]
    annotations = yaml.safe_load(file.read_text())["spec"]["template"]["metadata"]["annotations"]
    assert list(annotations.items()) == [
        ("autoscaling.knative.dev/max-scale", "100"),
        ("autoscaling.knative.dev/min-scale", "1"),
        ("autoscaling.knative.dev/initialScale", "2"),
        ("autoscaling.knative.dev/initial-scale", "3"),
        ("autoscaling.knative.dev/target", "10"),
    ]
    fixed = file.read_text()
    assert re.search(r'autoscaling.knative.dev/max-scale: "100" +# the seed\'s bound\n', fixed)  # comment kept
    assert "      - image: gcr.io/knative-samples/helloworld-go" in fixed  # the file's list style is kept
    assert {f.rule.id for f in lint_file(file, Options())} == {"KP014"}  # the twins that disagree


def test_a_fixture_changes_only_where_it_was_deprecated(tmp_path: Path) -> None:
    file = tmp_path / "test-ai-process.yaml"
    shutil.copy(MANIFESTS / "seed-001" / "test-ai-process.yaml", file)
    before = file.read_text().splitlines()
    fix_file(file)
    after = file.read_text().splitlines()
    changed = [(b, a) for b, a in zip(before, after, strict=True) if a != b]
    key = "        autoscaling.knative.dev/"
    assert changed == [(key + 'maxScale: "100"', key + 'max-scale: "100"'),
                       (key + 'minScale: "1"', key + 'min-scale: "1"')]


def test_the_command_prints_its_changes_then_what_is_left(tmp_path: Path) -> None:
    write(tmp_path, SEED_003, "seed-003.yaml")
    shutil.copy(MANIFESTS / "seed-004" / "invalid-min-over-max.yaml", tmp_path / "invalid.yaml")
    out, err = io.StringIO(), io.StringIO()
    code = run([tmp_path], fix=True, out=out, err=err)
    lines = out.getvalue().splitlines()
    fixed = [ln for ln in lines if ln.startswith("fixed ")]
    assert fixed and all("seed-003.yaml:" in ln for ln in fixed)
    assert [ln.split(": ")[1].split()[1] for ln in lines if not ln.startswith("fixed ")] == ["KP019"]
    assert code == 1  # min-scale above max-scale is not mechanical
    assert "2 files checked: 1 error" in err.getvalue()
