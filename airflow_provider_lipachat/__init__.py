"""Apache Airflow provider for WhatsApp messages through the LipaChat gateway."""

from airflow_provider_lipachat.version import __version__

__all__ = ["__version__"]
