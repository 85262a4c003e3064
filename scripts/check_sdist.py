"""Check the source distribution as a packager would: unpack it, collect its tests, run a real subset.

``python scripts/check_sdist.py [SDIST]`` builds the sdist from this checkout when none is given.
It fails unless the unpacked tree imports its own copy of the package, collects exactly the tests
this checkout collects, and passes ``SUBSET`` (unit tests, Airflow's provider checks, and one
example DAG run against the emulator).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
SUBSET = [
    "tests/gateway/test_messages.py",
    "tests/test_provider_checks.py",
    "tests/hooks/test_connection_form.py",
    "tests/test_example_dags.py::test_report_delivery_sends_the_dated_document_to_each_recipient",
]
TIMEOUT = 900


def build_sdist(outdir: Path) -> Path:
    """The sdist of this checkout, built by setuptools without network (no isolated build env)."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))",
            str(outdir),
        ],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    return outdir / done.stdout.strip().splitlines()[-1]


def pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def collected(root: Path) -> list[str]:
    """The test ids pytest collects in ``root``; raises when collection reports an error."""
    done = pytest(root, "--collect-only", "-q")
    if done.returncode != 0 or re.search(r"\berrors?\b", done.stdout.splitlines()[-1] if done.stdout else "error"):
        raise SystemExit(f"collection failed in {root}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return sorted(line for line in done.stdout.splitlines() if "::" in line)


def check(sdist: Path) -> list[str]:
    """Everything wrong with ``sdist``, as lines; empty when it is fit to publish."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="lipachat-sdist-") as tmp:
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp, filter="data")
        [root] = Path(tmp).iterdir()
        # docs/: the README links into it by relative path, and tests/test_docs.py reads it.
        required_files = ("LICENSE", "CHANGELOG.md", "README.md", "docs/index.md", "mkdocs.yml", "tests/conftest.py")
        for required in (*required_files, "example_dags"):
            if not (root / required).exists():
                problems.append(f"{required} is missing from the sdist")
        imported = subprocess.run(
            [sys.executable, "-c", "import airflow_provider_lipachat as p; print(p.__file__)"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=TIMEOUT,
        ).stdout.strip()
        if not Path(imported).resolve().is_relative_to(root.resolve()):
            problems.append(f"the unpacked tests would import the package from {imported}, not from the sdist")
        ours, theirs = collected(root), collected(CHECKOUT)
        print(f"sdist collects {len(ours)} tests; the checkout collects {len(theirs)}")
        if ours != theirs:
            missing = sorted(set(theirs) - set(ours))
            problems.append(f"{len(missing)} test(s) of the checkout are not in the sdist, e.g. {missing[:5]}")
        run = pytest(root, "-q", *SUBSET)
        print(run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:])
        if run.returncode != 0:
            problems.append(f"the subset failed in the unpacked sdist:\n{run.stdout[-4000:]}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdist", nargs="?", type=Path, help="an sdist .tar.gz (default: build one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lipachat-build-") as outdir:
        sdist = args.sdist or build_sdist(Path(outdir))
        problems = check(sdist)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not problems:
        print(f"OK: {sdist.name} unpacks, collects every test and passes the subset")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
