"""Provider metadata for Airflow's provider discovery (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_lipachat.hooks.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_lipachat.version import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-lipachat",
        "name": "LipaChat",
        "description": "Send WhatsApp media through the LipaChat gateway from Airflow DAGs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "LipaChat",
                "external-doc-url": "https://docs.lipachat.com",
                "tags": ["service"],
            }
        ],
        "operators": [
            {"integration-name": "LipaChat", "python-modules": ["airflow_provider_lipachat.operators.lipachat"]}
        ],
        "sensors": [{"integration-name": "LipaChat", "python-modules": ["airflow_provider_lipachat.sensors.lipachat"]}],
        "triggers": [
            {
                "integration-name": "LipaChat",
                "python-modules": [
                    "airflow_provider_lipachat.triggers.lipachat",
                    "airflow_provider_lipachat.triggers.inbound",
                ],
            }
        ],
        "hooks": [{"integration-name": "LipaChat", "python-modules": ["airflow_provider_lipachat.hooks.lipachat"]}],
        "notifications": ["airflow_provider_lipachat.notifications.lipachat.LipaChatNotifier"],
        "connection-types": [
            {
                "connection-type": "lipachat",
                "hook-class-name": "airflow_provider_lipachat.hooks.lipachat.LipaChatHook",
                "hook-name": "LipaChat",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
