"""The pages in docs/ and the README show code the tests run, link to what exists, and ``make bench`` writes its tables.

The site itself is built by ``make docs`` (``mkdocs build --strict``); these checks need no MkDocs.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import REPO_ROOT

DOCS = REPO_ROOT / "docs"
README = REPO_ROOT / "README.md"
MARKER = re.compile(r"^\s*# --8<-- \[(start|end):([a-z][-_0-9a-z]*)\]\s*$")
INCLUDE = re.compile(r'^\s*--8<-- "(?P<path>[^":]+)(?::(?P<section>[a-z][-_0-9a-z]*))?"\s*$', re.MULTILINE)
#: A fenced Python block of a page: its title (```python title="...") and its body.
PYTHON_BLOCK = re.compile(r'^```python(?: title="(?P<title>[^"]*)")?\n(?P<body>.*?)^```', re.MULTILINE | re.DOTALL)
#: What pymdownx.snippets takes for a section marker anywhere in a page's line, and drops the whole line for.
MARKER_IN_PAGE = re.compile(r"(?<!;)-+8<-+[ \t]+\[[ \t]*(start|end)[ \t]*:", re.IGNORECASE)


def docs_page() -> ModuleType:
    """``benchmarks/docs_page.py``, which ``make bench`` calls (benchmarks/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("docs_page", REPO_ROOT / "benchmarks" / "docs_page.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def section(path: Path, name: str) -> str:
    """The lines between ``# --8<-- [start:name]`` and ``[end:name]``, other markers dropped, dedented."""
    lines, inside = [], False
    for line in path.read_text().splitlines():
        marker = MARKER.match(line)
        if marker and marker[2] == name:
            inside = marker[1] == "start"
        elif inside and not marker:
            lines.append(line)
    assert lines, f"{path.name} has no section {name!r}"
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines)


def section_lines(path: Path, name: str) -> set[int]:
    """The line numbers (from 1) of section ``name`` of ``path``, as :func:`section` reads them."""
    numbers, inside = set(), False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        marker = MARKER.match(line)
        if marker and marker[2] == name:
            inside = marker[1] == "start"
        elif inside and not marker:
            numbers.add(number)
    return numbers


def imports_and_uses(path: Path, lines: set[int]) -> tuple[set[str], set[str]]:
    """Of the names ``path`` imports: those bound by import statements within ``lines``, and those read there."""
    tree = ast.parse(path.read_text())
    statements = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    imported_anywhere, imported_within = set(), set()
    for statement in statements:
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            continue
        names = {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
        imported_anywhere |= names
        if set(range(statement.lineno, (statement.end_lineno or statement.lineno) + 1)) <= lines:
            imported_within |= names
    read = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.lineno in lines
    }
    return imported_within, read & imported_anywhere


def sections() -> dict[str, str]:
    """Every marked section of every example DAG, by ``file:name``."""
    found = {}
    for path in sorted((REPO_ROOT / "example_dags").glob("*.py")):
        for name in {m[2] for m in map(MARKER.match, path.read_text().splitlines()) if m}:
            found[f"{path.name}:{name}"] = section(path, name)
    return found


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def test_every_include_in_the_docs_names_a_marked_section_of_an_example_dag() -> None:
    includes = [(page, m) for page in pages() for m in INCLUDE.finditer(page.read_text())]
    assert includes
    for page, include in includes:
        assert include["path"].startswith("example_dags/"), f"{page.name} includes {include['path']}"
        assert include["section"], f"{page.name} includes all of {include['path']}, not a marked section"
        section(REPO_ROOT / include["path"], include["section"])


def test_no_page_pastes_python_code() -> None:
    """Python in the docs comes from the example DAGs: a ```python block holds nothing but includes."""
    for page in pages():
        for block in PYTHON_BLOCK.finditer(page.read_text()):
            lines = block["body"].strip().splitlines()
            assert all(INCLUDE.fullmatch(line) for line in lines), (
                f"{page.relative_to(REPO_ROOT)} pastes code:\n{block[0]}"
            )


def test_a_page_s_code_block_is_titled_with_the_example_dag_it_includes() -> None:
    """The built site shows the title above the code; read as a file, the page names the file in the include lines."""
    for page in pages():
        for block in PYTHON_BLOCK.finditer(page.read_text()):
            files = {include["path"] for include in INCLUDE.finditer(block["body"])}
            assert [block["title"]] == sorted(files), f"{page.relative_to(REPO_ROOT)}: {block[0]}"


def test_a_page_shows_the_import_of_every_name_its_included_code_uses() -> None:
    """A provider class (or an Airflow name) in a page's code comes with the import line the example DAG has for it.

    Per page and example DAG: the names the included sections read, of those the DAG imports, are imported by an
    import statement the page includes too (usually the DAG's ``imports`` section, included in the first block).
    """
    checked = set()
    for page in pages():
        included: dict[str, set[int]] = {}
        for include in INCLUDE.finditer(page.read_text()):
            if include["section"]:
                lines = section_lines(REPO_ROOT / include["path"], include["section"])
                included[include["path"]] = included.get(include["path"], set()) | lines
        for path, lines in included.items():
            imported, used = imports_and_uses(REPO_ROOT / path, lines)
            missing = sorted(used - imported)
            assert not missing, f"{page.relative_to(REPO_ROOT)} uses {missing} from {path} but shows no import of them"
            checked |= {name for name in used if name.startswith(("Send", "WhatsApp", "LipaChat"))}
    assert {"WhatsAppInboundTrigger", "WhatsAppReplySensor", "LipaChatNotifier", "SendWhatsAppMediaOperator"} <= checked


def test_the_inbound_page_shows_where_the_inbound_trigger_comes_from() -> None:
    rendered = "\n".join(
        section(REPO_ROOT / include["path"], include["section"])
        for include in INCLUDE.finditer((DOCS / "inbound.md").read_text())
    )
    assert "from airflow_provider_lipachat.triggers.inbound import WhatsAppInboundTrigger" in rendered
    assert rendered.index("import WhatsAppInboundTrigger") < rendered.index("WhatsAppInboundTrigger(")


def test_the_index_says_the_pages_are_read_as_the_built_site_and_what_an_include_line_names() -> None:
    """On GitHub or in an editor a code block shows only ``--8<--`` lines: the first page says how to read them."""
    title, _, body = (DOCS / "index.md").read_text().partition("\n\n")
    quote = body.split("\n\n")[0].splitlines()
    assert title == "# airflow-provider-lipachat" and all(line.startswith("> ") for line in quote)
    note = " ".join(line.removeprefix("> ") for line in quote)
    for words in ("meant to be read as the built site", "`make docs`", "`site/`", "names the example DAG file"):
        assert words in note


def test_no_page_line_holds_a_section_marker_which_the_site_would_drop() -> None:
    """pymdownx.snippets removes a page's whole line when it holds a section marker, even quoted in backticks."""
    for page in pages():
        for number, line in enumerate(page.read_text().splitlines(), start=1):
            assert not MARKER_IN_PAGE.search(line), f"{page.relative_to(REPO_ROOT)}:{number} is dropped from the site"


def test_the_readme_s_python_is_a_marked_section_of_an_example_dag() -> None:
    """GitHub and PyPI show the README without includes: its code must equal what the tests run."""
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)
    assert blocks
    known = sections()
    for block in blocks:
        assert block.rstrip("\n") in known.values(), f"README code is in no example DAG section:\n{block}"


def test_the_readme_is_short_and_its_relative_links_resolve() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    links = re.findall(r"\]\(((?!https?://)[^)#]+)(?:#[^)]*)?\)", text)
    assert any(link.startswith("docs/") for link in links)
    assert [link for link in links if not (REPO_ROOT / link).exists()] == []


def test_the_readme_keeps_the_commands_and_the_warning() -> None:
    text = README.read_text()
    for command in ("make demo", "make test ", "make test-fast"):
        assert f"\n{command}" in text
    assert "Do not run `dag.test()` with a real API key on Airflow 3.0" in text


def test_the_media_page_quotes_what_the_object_storage_and_preflight_tests_assert() -> None:
    """tests/operators/test_object_storage.py and test_media_preflight.py check what this page promises."""
    page = " ".join((DOCS / "media.md").read_text().split())
    assert "was signed as a http:// link, and WhatsApp fetches only https:// links" in page
    assert "could not be reached (SSLError); sending anyway" in page


def test_make_bench_rewrites_only_the_region_between_the_markers(tmp_path: Path) -> None:
    module = docs_page()
    page = tmp_path / "benchmarks.md"
    shutil.copy(DOCS / "benchmarks.md", page)
    before = page.read_text()
    head, _, tail = before.partition(module.START)
    _, _, tail = tail.partition(module.END)
    assert "| LipaChatHook.send_media" in before  # the figures measured so far, until the next make bench

    tables = "\nPer-send cost, 20 sends each\n\n| path | µs per send |\n|---|---|\n| hook | 1 |\n"
    module.write_tables(tables, page)
    after = page.read_text()
    assert after == f"{head}{module.START}\n{tables.strip()}\n{module.END}{tail}"
    assert "| LipaChatHook.send_media" not in after

    module.write_tables(tables, page)  # a second run replaces, never appends
    assert page.read_text() == after


@pytest.mark.parametrize(
    "page",
    [
        "no markers at all",
        "<!-- bench:end --> before <!-- bench:start -->",
        "<!-- bench:start --> twice <!-- bench:start --> <!-- bench:end -->",
    ],
)
def test_a_page_without_one_pair_of_markers_is_refused_not_rewritten(page: str) -> None:
    with pytest.raises(ValueError, match="bench:start"):
        docs_page().replace_region(page, "| a |")
