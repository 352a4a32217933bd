"""The container images a selection of tests needs, for mirroring into an air-gapped registry (`kproof images`),
found without running anything.

A test module names its images in three ways, and each is read from its source (and from the suite's modules
it imports, the conftest.py files above it and the shared fixtures it uses):
- `app_image("recorder")`: a kproof app, `<app registry>/recorder`;
- an `image` field of an object it builds (a dict's "image" key or an `image=` argument, `service(name,
  namespace, image)`), as a literal or a module constant;
- a manifest of fixtures/manifests it applies (a string naming its file or folder): every `image` in it.

A run records the images its objects really named (the `kproof.images` property of each test, kept in the
bundle's tests.jsonl); tests/test_images.py checks that those are among what this module finds.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import yaml

from kproof.target import images_in

SUITE_ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = SUITE_ROOT / "fixtures" / "manifests"
SUITE_PACKAGES = ("conformance", "load")
SHARED_FIXTURES = SUITE_ROOT / "conformance" / "fixtures.py"  # the -p plugin of fixtures both folders use
IMAGE_ARGUMENT = {"service": 2, "intent_service": 2}  # helpers whose positional argument N is the image


def images_of(test_files: Iterable[str | Path], app_registry: str = "ghcr.io/kproof") -> dict[str, set[str]]:
    """image -> the test files that need it."""
    found: dict[str, set[str]] = {}
    for test_file in sorted({str(Path(f).resolve()) for f in test_files}):
        for image in module_images(Path(test_file), app_registry.rstrip("/")):
            found.setdefault(image, set()).add(test_file)
    return found


def module_images(test_file: Path, registry: str) -> set[str]:
    images: set[str] = set()
    for module in related_modules(test_file):
        apps, literal, manifests = _scan(module)
        images |= {f"{registry}/{app}" for app in apps} | set(literal)
        for manifest in manifests:
            images |= manifest_images(manifest)
    return images


def related_modules(test_file: Path) -> list[Path]:
    """The test module, the suite's modules it imports (transitively), the conftest.py files above it in the
    suite, and the shared fixtures module when it uses one of its fixtures."""
    seen: list[Path] = []
    pending = [test_file]
    directory = test_file.parent
    while directory.is_relative_to(SUITE_ROOT) and directory != SUITE_ROOT:
        if (directory / "conftest.py").is_file():
            pending.append(directory / "conftest.py")
        directory = directory.parent
    if SHARED_FIXTURES.is_file() and _fixture_names(SHARED_FIXTURES) & _names(test_file):
        pending.append(SHARED_FIXTURES)
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.append(module)
        pending += [m for m in _imports(module) if m not in seen]
    return seen


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


@cache
def _names(path: Path) -> frozenset[str]:
    return frozenset(n.id for n in ast.walk(_tree(path)) if isinstance(n, ast.Name)) | frozenset(
        a.arg for n in ast.walk(_tree(path)) if isinstance(n, ast.FunctionDef) for a in n.args.args)


@cache
def _fixture_names(path: Path) -> frozenset[str]:
    return frozenset(n.name for n in _tree(path).body if isinstance(n, ast.FunctionDef))


@cache
def _imports(path: Path) -> tuple[Path, ...]:
    """The suite's modules (conformance.*, load.*) a module imports, as files."""
    found = []
    for node in ast.walk(_tree(path)):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.split(".")[0] in SUITE_PACKAGES:
                file = SUITE_ROOT.joinpath(*name.split(".")).with_suffix(".py")
                if file.is_file():
                    found.append(file)
    return tuple(found)


@cache
def _scan(path: Path) -> tuple[frozenset[str], frozenset[str], frozenset[Path]]:
    """(app names, literal images, manifest files) a module names."""
    tree = _tree(path)
    constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                 and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                 for t in n.targets if isinstance(t, ast.Name)}

    def text(node: ast.AST | None) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return constants.get(node.id)
        return None

    apps: set[str] = set()
    literal: set[str] = set()
    manifests: set[Path] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = node.func.id if isinstance(node.func, ast.Name) else \
                node.func.attr if isinstance(node.func, ast.Attribute) else ""
            if called == "app_image" and node.args and (app := text(node.args[0])):
                apps.add(app)
            position = IMAGE_ARGUMENT.get(called)
            if position is not None and len(node.args) > position and (image := text(node.args[position])):
                literal.add(image)
            literal |= {image for k in node.keywords if k.arg == "image" and (image := text(k.value))}
        elif isinstance(node, ast.Dict):
            literal |= {image for key, value in zip(node.keys, node.values, strict=True)
                        if text(key) == "image" and (image := text(value))}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            manifests |= _manifests_named(node.value)
    return frozenset(apps), frozenset(literal), frozenset(manifests)


def _manifests_named(text: str) -> set[Path]:
    """The manifest files a string names: a path under fixtures/manifests (a file or a folder of them), or a
    YAML file's name."""
    if not text or "\n" in text or len(text) > 200 or text.startswith("/"):
        return set()
    candidate = MANIFESTS / text
    try:
        if candidate.is_file() and candidate.suffix in (".yaml", ".yml"):
            return {candidate}
        if candidate.is_dir() and text.strip("./"):
            return {p for p in candidate.rglob("*") if p.suffix in (".yaml", ".yml")}
    except (OSError, ValueError):
        return set()
    if text.endswith((".yaml", ".yml")) and "/" not in text:
        return {p for p in _all_manifests() if p.name == text}
    return set()


@cache
def _all_manifests() -> tuple[Path, ...]:
    return tuple(p for p in MANIFESTS.rglob("*") if p.suffix in (".yaml", ".yml")) if MANIFESTS.is_dir() else ()


@cache
def manifest_images(path: Path) -> frozenset[str]:
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except (OSError, yaml.YAMLError):
        return frozenset()
    return frozenset(image for document in documents for image in images_in(document))
