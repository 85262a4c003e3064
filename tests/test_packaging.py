"""The distribution's metadata is honest and the sdist ships what it takes to test it.

``make package-check`` goes further (pyroma, twine, check-wheel-contents, and the sdist's own
tests run from the unpacked tarball); these are the parts cheap enough for every test run.
"""

from __future__ import annotations

import sys
import tarfile
from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from scripts.check_sdist import build_sdist
from tests.support import REPO_ROOT

METADATA = distribution("airflow-provider-lipachat").metadata
LINT_AND_BROWSER_TOOLS = {"ruff", "mypy", "types-requests", "playwright", "pyroma", "twine", "check-wheel-contents"}


def python_classifiers() -> set[str]:
    prefix = "Programming Language :: Python :: 3."
    return {
        c.removeprefix("Programming Language :: Python :: ")
        for c in METADATA.get_all("Classifier")
        if c.startswith(prefix)
    }


def extra_requirements(extra: str) -> set[str]:
    requirements = [Requirement(r) for r in METADATA.get_all("Requires-Dist")]
    return {r.name for r in requirements if r.marker is not None and r.marker.evaluate({"extra": extra})}


def test_requires_python_admits_exactly_the_python_versions_the_classifiers_name() -> None:
    allowed = SpecifierSet(METADATA["Requires-Python"])
    assert python_classifiers() == {"3.11"}
    assert "3.11" in allowed and "3.10" not in allowed
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in allowed


def test_the_metadata_claims_no_home_page_the_project_does_not_have() -> None:
    assert METADATA.get_all("Project-URL") is None
    assert METADATA.get("Home-page") is None


def test_the_test_extra_holds_what_the_tests_need_and_dev_adds_the_tools() -> None:
    test = extra_requirements("test")
    assert {"pytest", "wtforms"} <= test
    assert not test & LINT_AND_BROWSER_TOOLS
    assert LINT_AND_BROWSER_TOOLS | {"airflow-provider-lipachat"} <= extra_requirements("dev")


def test_the_sdist_ships_the_license_every_test_and_example_and_the_docs_the_readme_links_to(tmp_path: Path) -> None:
    sdist = build_sdist(tmp_path)
    with tarfile.open(sdist) as archive:
        root = sdist.name.removesuffix(".tar.gz")
        shipped = {name.removeprefix(f"{root}/") for name in archive.getnames()}
    sources = {
        path.relative_to(REPO_ROOT).as_posix()
        for folder in ("tests", "example_dags")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    pages = {path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / "docs").rglob("*.md")}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "mkdocs.yml"} <= shipped
    assert sources - shipped == set()
    assert pages and pages - shipped == set()
