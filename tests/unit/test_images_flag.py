"""`kproof up --images FILE`: the user's image catalog, from the command line to the catalog the kubelet asks."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kproof.commands import main as cli
from kproof.commands import up as up_command
from kproof.embedded import PlatformError
from reference.platform import PlatformConfig
from reference.runtime.catalog import Catalog, CatalogError

MINE = "images:\n  - image: example.com/team/api\n    command: [my-api, --serve]\n"


def up(*argv: str) -> argparse.Namespace:
    return cli.parser().parse_args(["up", *argv])


def test_images_reach_the_platform_and_are_kept_for_later_starts(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(MINE)
    second.write_text("images:\n  - image: gcr.io/knative-samples/helloworld-go\n    command: [mine]\n")
    given: dict = {}

    class Recorder:
        def __init__(self, state_dir: Path, *args: object, upstream_strict: bool = False) -> None:
            given["images"] = args[-1]

        def start(self) -> None:
            raise PlatformError("not started in a unit test")

    monkeypatch.setattr(up_command, "ReferenceProcess", Recorder)
    state = tmp_path / "state"
    assert up_command.handle(up("--detach", "--state-dir", str(state), "--images", str(first), "--images",
                                str(second))) == 1
    assert given["images"] == (first, second)

    # what `python -m reference --images` makes of them, now and at a start given none
    catalog = Catalog.load(*PlatformConfig(state, images=[first, second]).saved_images())
    assert catalog.launch({"image": "example.com/team/api:v2"}).argv == ["my-api", "--serve"]
    assert catalog.launch({"image": "gcr.io/knative-samples/helloworld-go"}).argv == ["mine"]  # theirs win
    assert PlatformConfig(state).saved_images() == [first.resolve(), second.resolve()]


@pytest.mark.parametrize(("text", "problem"), [
    (None, "No such file"),
    ("images: [oops", "not YAML"),
    ("services: []\n", "no `images:` list"),
    ("images:\n  - command: [x]\n", "entry 1 names no `image`"),
    ("images:\n  - image: a/b\n    env: [x]\n", "entry 1 (a/b)"),
])
def test_a_bad_catalog_is_refused_before_anything_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture, text: str | None,
                                                        problem: str) -> None:
    path = tmp_path / "images.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(CatalogError, match=str(path)):
        Catalog.load(path)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing starts with a bad catalog")

    monkeypatch.setattr(up_command, "ReferenceProcess", never)
    assert up_command.handle(up("--detach", "--state-dir", str(tmp_path / "state"), "--images", str(path))) == 2
    out = capsys.readouterr().out
    assert "image catalog:" in out and problem in out


def test_a_kept_catalog_that_is_gone_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "images.yaml"
    path.write_text(MINE)
    PlatformConfig(tmp_path / "state", images=[path]).saved_images()
    path.unlink()
    assert PlatformConfig(tmp_path / "state").saved_images() == []
    Catalog.load(*PlatformConfig(tmp_path / "state").saved_images())  # the platform still starts
