"""The README and the manual in docs/: the site builds strictly (no broken link or anchor), the README stays
short and its links resolve, every shell block names the test that runs it (or says why none does), and every
project path the pages name exists."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 150
SHELL_LANGUAGES = {"bash", "sh", "console", "shell"}
TEST_FOLDERS = ("tests", "conformance", "load")
# A path in backquotes that starts with one of these names a file or folder of the project.
PROJECT_FOLDERS = ("reference/", "kproof/", "conformance/", "load/", "tests/", "fixtures/", "scripts/", "docs/",
                   ".ci/")
TESTED = re.compile(r"^<!--\s*tested:\s*(?P<ids>.+?)\s*-->$")
NOT_RUN = re.compile(r"^<!--\s*not run by tests:\s*(?P<reason>.+?)\s*-->$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"(?<!`)`(?P<code>[^`\n]+)`(?!`)")
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")


def pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    before: str  # the line right above the opening fence, stripped


def blocks(page: Path) -> list[Block]:
    """The page's fenced code blocks, with the line above each."""
    found: list[Block] = []
    lines = page.read_text().splitlines()
    open_fence: str | None = None
    for number, line in enumerate(lines, 1):
        match = FENCE.match(line)
        if open_fence is None:
            if match:
                open_fence = match["fence"]
                before = lines[number - 2].strip() if number > 1 else ""
                found.append(Block(page, number, match["info"].lower(), before))
        elif match and match["fence"][0] == open_fence[0] and len(match["fence"]) >= len(open_fence) \
                and not match["info"]:
            open_fence = None
    assert open_fence is None, f"{page.relative_to(ROOT)}: a code block is never closed"
    return found


def prose(page: Path) -> list[tuple[int, str]]:
    """The page's lines outside fenced code blocks, numbered."""
    kept: list[tuple[int, str]] = []
    open_fence: str | None = None
    for number, line in enumerate(page.read_text().splitlines(), 1):
        match = FENCE.match(line)
        if open_fence is None and match:
            open_fence = match["fence"]
        elif open_fence is not None:
            if match and match["fence"][0] == open_fence[0] and len(match["fence"]) >= len(open_fence) \
                    and not match["info"]:
                open_fence = None
        else:
            kept.append((number, line))
    return kept


def _defines(test_file: Path, node: str) -> bool:
    """Whether `node` (function, or Class::function; parameters dropped) is defined in the test file."""
    text = test_file.read_text()
    *classes, function = node.split("[", 1)[0].split("::")
    return all(re.search(rf"^class {re.escape(name)}\b", text, re.MULTILINE) for name in classes) and bool(
        re.search(rf"^\s*(?:async\s+)?def {re.escape(function)}\(", text, re.MULTILINE))


def marker_problem(block: Block) -> str | None:
    """What is wrong with the comment above a shell block, or None."""
    if (not_run := NOT_RUN.match(block.before)) is not None:
        return None if not_run["reason"].strip() else "`not run by tests:` needs a reason"
    tested = TESTED.match(block.before)
    if tested is None:
        return "needs `<!-- tested: <test file or node id> -->` or `<!-- not run by tests: <reason> -->` right above"
    for test_id in (part for part in re.split(r"[,\s]+", tested["ids"]) if part):
        path, _, node = test_id.partition("::")
        test_file = ROOT / path
        if not (path.startswith(TEST_FOLDERS) and test_file.name.startswith("test_") and test_file.suffix == ".py"):
            return f"{test_id}: not a test file under {', '.join(TEST_FOLDERS)}"
        if not test_file.is_file():
            return f"{test_id}: no such test file"
        if node and not _defines(test_file, node):
            return f"{test_id}: {path} defines no {node}"
    return None


def test_every_shell_block_names_its_test_or_says_why_none() -> None:
    problems = [f"{b.page.relative_to(ROOT)}:{b.line}: {problem}"
                for page in pages() for b in blocks(page) if b.language in SHELL_LANGUAGES
                if (problem := marker_problem(b)) is not None]
    assert not problems, "\n".join(problems)


def test_the_readme_is_short() -> None:
    count = len(README.read_text().splitlines())
    assert count < README_MAX_LINES, f"README.md has {count} lines; keep it under {README_MAX_LINES} (move detail " \
                                     "to docs/)"


def _slug(title: str) -> str:
    """The anchor MkDocs gives a heading (Python-Markdown's toc slugify, on the heading's text)."""
    from markdown.extensions.toc import slugify

    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).replace("`", "").replace("*", "")
    return slugify(text, "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(m["title"]) for _, line in prose(page) if (m := HEADING.match(line))}


def test_the_readme_links_resolve() -> None:
    checks_anchors = importlib.util.find_spec("markdown") is not None
    problems = []
    for number, line in prose(README):
        for match in LINK.finditer(INLINE_CODE.sub("", line)):
            target = match["target"]
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            resolved = (README.parent / path).resolve() if path else README
            if not resolved.exists():
                problems.append(f"README.md:{number}: {target}: no such file")
            elif anchor and checks_anchors and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                problems.append(f"README.md:{number}: {target}: {path or 'README.md'} has no heading #{anchor}")
    assert not problems, "\n".join(problems)


def test_the_readme_shows_what_ci_runs() -> None:
    """`.ci/run` is the README's test command, exactly, then stages of `.ci/` that the README names."""
    commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert commands[0] == "bash scripts/setup.sh && python3 -m pytest"
    assert commands[0] in README.read_text()
    for stage in commands[1:]:
        script = re.fullmatch(r"bash (?P<script>\.ci/[\w-]+)\s*(#.*)?", stage)
        assert script, f"{stage!r}: a later stage is one script of .ci/"
        assert (ROOT / script["script"]).is_file() and f"`{script['script']}`" in README.read_text()


def test_every_project_path_the_pages_name_exists() -> None:
    problems = []
    for page in pages():
        for number, line in prose(page):
            for match in INLINE_CODE.finditer(line):
                code = match["code"].strip()
                if not code.startswith(PROJECT_FOLDERS) or re.search(r"[\s<>{}*|$]|\.\.\.", code):
                    continue  # not a path, or a pattern with placeholders
                path, _, node = code.partition("::")  # a test named as `file::function`
                if not (ROOT / path).exists():
                    problems.append(f"{page.relative_to(ROOT)}:{number}: `{code}` does not exist")
                elif node and not ((ROOT / path).is_file() and _defines(ROOT / path, node)):
                    problems.append(f"{page.relative_to(ROOT)}:{number}: `{path}` defines no {node}")
    assert not problems, "\n".join(problems)


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict`: a broken link, a broken anchor or a page left out of the nav fails it."""
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        pytest.skip("mkdocs and mkdocs-material are not installed (pip install -e '.[test]')")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
