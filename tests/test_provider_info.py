"""Airflow discovers the provider, its hook and its connection form."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib.metadata import distribution, entry_points
from pathlib import Path

from airflow_provider_lipachat.get_provider_info import get_provider_info
from tests.support import cli_json


def airflow_cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *args], capture_output=True, text=True, timeout=300, check=True
    )
    return done.stdout


def test_package_name_is_the_distribution_name() -> None:
    assert get_provider_info()["package-name"] == "airflow-provider-lipachat"
    assert distribution("airflow-provider-lipachat").metadata["Name"] == "airflow-provider-lipachat"


def test_entry_point_points_at_get_provider_info() -> None:
    [entry] = [
        e
        for e in entry_points(group="apache_airflow_provider")
        if e.dist and e.dist.name == "airflow-provider-lipachat"
    ]
    assert entry.load() is get_provider_info


def test_the_wheel_ships_py_typed_and_the_entry_point(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            ".",
        ],
        cwd=Path(__file__).parent.parent,
        check=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("airflow_provider_lipachat-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points_txt = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "airflow_provider_lipachat/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "airflow_provider_lipachat/emulator/server.py" in names
    assert "[apache_airflow_provider]" in entry_points_txt
    assert "airflow_provider_lipachat.get_provider_info:get_provider_info" in entry_points_txt
    assert not [n for n in names if n.startswith(("tests/", "example_dags/"))]


def test_airflow_lists_the_provider_and_its_hook(airflow_db: Path) -> None:
    providers = cli_json(airflow_cli("providers", "list", "--output", "json"))
    [ours] = [p for p in providers if p["package_name"] == "airflow-provider-lipachat"]
    assert ours["version"] == distribution("airflow-provider-lipachat").version
    hooks = cli_json(airflow_cli("providers", "hooks", "--output", "json"))
    [hook] = [h for h in hooks if h["connection_type"] == "lipachat"]
    assert hook["class"] == "airflow_provider_lipachat.hooks.lipachat.LipaChatHook"
    assert hook["package_name"] == "airflow-provider-lipachat"
    assert hook["hook_name"] == "LipaChat"


def test_connection_form_metadata_reaches_the_providers_manager() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    widgets = manager.connection_form_widgets
    for name in ("from_number", "timeout", "max_retries", "rate_limit"):
        assert widgets[f"extra__lipachat__{name}"].package_name == "airflow-provider-lipachat"
    behaviour = manager.field_behaviours["lipachat"]
    assert behaviour["hidden_fields"] == ["login", "schema", "extra"]
    assert behaviour["relabeling"] == {"password": "API Key", "host": "Gateway URL"}
    assert behaviour["placeholders"]["extra__lipachat__from_number"] == "254110090747"


def test_the_notifier_is_registered() -> None:
    notifications = get_provider_info()["notifications"]
    assert notifications == ["airflow_provider_lipachat.notifications.lipachat.LipaChatNotifier"]
