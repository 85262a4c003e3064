"""Opt-in pytest fixtures: ``pytest_plugins = ["airflow_provider_lipachat.emulator.pytest_plugin"]``.

``lipachat_emulator`` starts an emulator on a free loopback port for one test and stops it after;
``lipachat_emulator_url`` is its base URL, for a connection's host. Importable without pytest
(the fixtures are then absent), so tools that import every module of the package do not fail.
"""

from __future__ import annotations

from collections.abc import Iterator

try:
    import pytest
except ImportError:  # pytest is a test-time dependency only
    pytest = None  # type: ignore[assignment]

from airflow_provider_lipachat.emulator.server import Emulator

if pytest is not None:

    @pytest.fixture
    def lipachat_emulator() -> Iterator[Emulator]:
        with Emulator() as emulator:
            yield emulator

    @pytest.fixture
    def lipachat_emulator_url(lipachat_emulator: Emulator) -> str:
        return lipachat_emulator.base_url
