"""A local, faithful stand-in for the LipaChat gateway, for development, demos and tests."""

from airflow_provider_lipachat.emulator.latency import Latency
from airflow_provider_lipachat.emulator.server import DEFAULT_API_KEY, Emulator
from airflow_provider_lipachat.emulator.state import Fault
from airflow_provider_lipachat.emulator.throughput import Arrival, ThroughputLimit, busiest_window

__all__ = ["DEFAULT_API_KEY", "Arrival", "Emulator", "Fault", "Latency", "ThroughputLimit", "busiest_window"]
