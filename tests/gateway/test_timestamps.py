"""Reading the gateway's timestamps."""

from __future__ import annotations

import pendulum
import pytest

from airflow_provider_lipachat.gateway.timestamps import parse_gateway_timestamp


class TestGatewayTimestamp:
    def test_nanosecond_local_date_time_is_read_as_utc(self) -> None:
        parsed = parse_gateway_timestamp("2023-08-06T01:27:56.825898971")
        assert parsed == pendulum.datetime(2023, 8, 6, 1, 27, 56, 825898, tz="UTC")
        assert parsed is not None and parsed.timezone_name == "UTC"

    def test_whole_seconds(self) -> None:
        assert parse_gateway_timestamp("2023-08-06T01:27:56") == pendulum.datetime(2023, 8, 6, 1, 27, 56, tz="UTC")

    def test_an_offset_if_present_is_honoured(self) -> None:
        parsed = parse_gateway_timestamp("2023-08-06T04:27:56.825+03:00")
        assert parsed == pendulum.datetime(2023, 8, 6, 1, 27, 56, 825000, tz="UTC")

    @pytest.mark.parametrize("value", [None, "", "yesterday", 12345, "2023-13-45T01:00:00"])
    def test_missing_or_unreadable_is_none(self, value: object) -> None:
        assert parse_gateway_timestamp(value) is None
