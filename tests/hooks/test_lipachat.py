"""LipaChatHook: connections from AIRFLOW_CONN_*, gateway URL rules, key masking, sending, connection tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.exceptions import LipaChatAuthError, LipaChatRateLimitStoreError, LipaChatValidationError
from airflow_provider_lipachat.hooks.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_lipachat.hooks.lipachat import LipaChatHook
from airflow_provider_lipachat.hooks.settings import gateway_base_url
from tests.redis_server import STORE_PASSWORD, RedisServer, redis_server_or_skip
from tests.support import SANDBOX_SENDER, connection_json, flat, redact

RECIPIENT = "254711222333"


def use_connection(monkeypatch: pytest.MonkeyPatch, value: str, conn_id: str = "lipachat_default") -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)


class TestGatewayUrl:
    @pytest.mark.parametrize(
        ("host", "schema", "port", "expected"),
        [
            (None, None, None, "https://gateway.lipachat.com"),
            ("", None, None, "https://gateway.lipachat.com"),
            ("gateway.lipachat.com", None, None, "https://gateway.lipachat.com"),
            ("https://gw.example.com/", None, None, "https://gw.example.com"),
            ("http://127.0.0.1:8765", None, None, "http://127.0.0.1:8765"),
            ("http://localhost:8765", None, None, "http://localhost:8765"),
            ("http://[::1]:8765", None, None, "http://[::1]:8765"),
            ("127.0.0.1", "http", 8765, "http://127.0.0.1:8765"),
            ("gw.example.com", None, 8443, "https://gw.example.com:8443"),
            # One gateway, one spelling: lower-case scheme and host, no default port, no trailing slash.
            ("https://gateway.lipachat.com:443", None, None, "https://gateway.lipachat.com"),
            ("HTTPS://Gateway.LipaChat.com/", None, None, "https://gateway.lipachat.com"),
            ("Gateway.LipaChat.com", "HTTPS", 443, "https://gateway.lipachat.com"),
            ("http://LOCALHOST:80/", None, None, "http://localhost"),
            ("http://[::1]:80", None, None, "http://[::1]"),
        ],
    )
    def test_accepted_hosts(self, host: str | None, schema: str | None, port: int | None, expected: str) -> None:
        assert gateway_base_url(host, schema, port) == expected

    @pytest.mark.parametrize("host", ["http://gateway.lipachat.com", "http://10.0.0.5:8765", "ftp://gw.example.com"])
    def test_plain_http_is_refused_beyond_loopback(self, host: str) -> None:
        with pytest.raises(LipaChatValidationError, match=r"host=.*plain http:// is accepted only for loopback"):
            gateway_base_url(host)

    def test_a_port_that_is_not_a_number_is_refused_naming_the_field(self) -> None:
        with pytest.raises(LipaChatValidationError, match=r"host=.*has a port that is not a number") as refused:
            gateway_base_url("https://gateway.lipachat.com:https")
        assert refused.value.field == "host"


class TestConnection:
    def test_json_connection_configures_the_client(self, monkeypatch: pytest.MonkeyPatch) -> None:
        use_connection(monkeypatch, connection_json("http://127.0.0.1:9", "k-1", timeout="12.5", max_retries="5"))
        client = LipaChatHook().get_conn()
        assert (client.base_url, client.timeout, client.max_retries) == ("http://127.0.0.1:9", 12.5, 5)

    @pytest.mark.parametrize(("extra", "expected"), [(20, 20.0), (20.0, 20.0), ("20.0", 20.0), (0.5, 0.5), ("", None)])
    def test_rate_limit_extra_is_any_positive_number(
        self, monkeypatch: pytest.MonkeyPatch, extra: object, expected: float | None
    ) -> None:
        use_connection(monkeypatch, connection_json("http://127.0.0.1:9", "k-1", rate_limit=extra))
        hook = LipaChatHook()
        assert hook.rate_limit == expected
        limiter = hook.get_conn().rate_limiter
        assert (None if limiter is None else limiter.per_second) == expected

    @pytest.mark.parametrize("extra", [0, -1, "nan", "fast", True])
    def test_rate_limit_extra_that_is_not_a_positive_number_is_refused_naming_the_field(
        self, monkeypatch: pytest.MonkeyPatch, extra: object
    ) -> None:
        use_connection(monkeypatch, connection_json("http://127.0.0.1:9", "k-1", rate_limit=extra))
        with pytest.raises(LipaChatValidationError, match=r"such as 80 or 0\.5") as refused:
            LipaChatHook().get_conn()
        assert refused.value.field == "rate_limit"

    def test_uri_connection_with_schema_as_scheme(self, monkeypatch: pytest.MonkeyPatch) -> None:
        use_connection(monkeypatch, "lipachat://:k-1@127.0.0.1:8765/http?from_number=%2B254110090747")
        hook = LipaChatHook()
        assert hook.get_conn().base_url == "http://127.0.0.1:8765"
        assert hook.default_sender() == SANDBOX_SENDER

    def test_defaults_when_extras_are_absent(self, monkeypatch: pytest.MonkeyPatch) -> None:
        use_connection(monkeypatch, json.dumps({"conn_type": "lipachat", "password": "k"}))
        client = LipaChatHook().get_conn()
        assert (client.base_url, client.timeout, client.max_retries) == ("https://gateway.lipachat.com", 30.0, 3)

    def test_prefixed_extras_from_older_forms_are_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        extra = {"extra__lipachat__from_number": "254110090747", "extra__lipachat__max_retries": 1}
        use_connection(monkeypatch, json.dumps({"conn_type": "lipachat", "password": "k", "extra": extra}))
        hook = LipaChatHook()
        assert hook.get_conn().max_retries == 1
        assert hook.default_sender() == SANDBOX_SENDER

    def test_hook_arguments_override_the_connection(self, monkeypatch: pytest.MonkeyPatch) -> None:
        use_connection(monkeypatch, connection_json("http://127.0.0.1:9", "k", max_retries=5))
        assert LipaChatHook(max_retries=0, timeout=2).get_conn().max_retries == 0

    @pytest.mark.parametrize(
        ("extra", "complaint"),
        [
            ({"timeout": "soon"}, "timeout='soon': expected a number of seconds greater than 0"),
            ({"timeout": 0}, "timeout=0: expected a number of seconds"),
            ({"max_retries": "-1"}, "max_retries='-1': expected a whole number from 0 to 10"),
            ({"max_retries": 50}, "max_retries=50"),
            ({"from_number": "0712345678"}, "from_number='0712****78'"),
        ],
    )
    def test_bad_extras_are_named(self, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], complaint: str) -> None:
        use_connection(monkeypatch, connection_json("http://127.0.0.1:9", "k", **extra))
        with pytest.raises(LipaChatValidationError) as caught:
            LipaChatHook().get_conn()
        assert complaint in str(caught.value)

    def test_a_connection_without_a_key_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        use_connection(monkeypatch, json.dumps({"conn_type": "lipachat", "host": "http://127.0.0.1:9"}))
        with pytest.raises(LipaChatValidationError, match="has no API key; set its password"):
            LipaChatHook().get_conn()

    def test_non_loopback_http_host_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        use_connection(monkeypatch, connection_json("http://gateway.lipachat.com", "k"))
        with pytest.raises(LipaChatValidationError, match="plain http://"):
            LipaChatHook().get_conn()

    def test_one_client_per_hook(self, monkeypatch: pytest.MonkeyPatch) -> None:
        use_connection(monkeypatch, connection_json("http://127.0.0.1:9", "k"))
        hook = LipaChatHook()
        assert hook.get_conn() is hook.get_conn() is hook.client

    def test_key_is_registered_with_the_secret_masker(self, monkeypatch: pytest.MonkeyPatch) -> None:
        use_connection(monkeypatch, connection_json("http://127.0.0.1:9", "the-very-secret-key"))
        LipaChatHook().get_conn()
        assert "the-very-secret-key" not in str(redact("key is the-very-secret-key"))

    def test_the_connection_object_is_masked_once_the_hook_has_read_it(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Airflow 3's Connection repr includes the password; the masker is what keeps it out of logs.
        use_connection(monkeypatch, connection_json("http://127.0.0.1:9", "the-connection-secret"))
        hook = LipaChatHook()
        hook.get_conn()
        connection = hook.get_connection("lipachat_default")
        assert "the-connection-secret" not in redact(repr(connection))
        assert "lipachat_default" in redact(repr(connection))

    def test_repr_of_hook_and_client_hold_no_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        use_connection(monkeypatch, connection_json("http://127.0.0.1:9", "the-very-secret-key"))
        hook = LipaChatHook()
        assert "the-very-secret-key" not in repr(hook) + repr(hook.get_conn())


class TestSending:
    def test_send_media_uses_the_connection_sender(self, lipachat_emulator: Emulator, lipachat_conn: str) -> None:
        result = LipaChatHook(lipachat_conn).send_media(
            to="+254 711 222 333", media_url="https://x.example/chart.png", caption="today", message_id="h-1"
        )
        [delivery] = lipachat_emulator.deliveries()
        assert delivery["payload"] == {
            "messageId": "h-1",
            "mediaType": "IMAGE",
            "mediaUrl": "https://x.example/chart.png",
            "caption": "today",
            "from": SANDBOX_SENDER,
            "to": RECIPIENT,
        }
        assert result.wa_id == delivery["waId"]

    def test_explicit_sender_wins(self, lipachat_emulator: Emulator, lipachat_conn: str) -> None:
        LipaChatHook().send_media(to=RECIPIENT, media_url="https://x.example/a.png", from_number="+1 555 010 9999")
        assert lipachat_emulator.deliveries()[0]["from"] == "15550109999"

    def test_no_sender_anywhere_is_a_clear_error(
        self, monkeypatch: pytest.MonkeyPatch, lipachat_emulator: Emulator
    ) -> None:
        use_connection(
            monkeypatch, json.dumps({"conn_type": "lipachat", "host": lipachat_emulator.base_url, "password": "k"})
        )
        with pytest.raises(LipaChatValidationError, match="has no extra 'from_number'"):
            LipaChatHook().send_media(to=RECIPIENT, media_url="https://x.example/a.png")
        assert lipachat_emulator.requests() == []

    def test_without_message_id_a_fresh_one_is_used(self, lipachat_emulator: Emulator, lipachat_conn: str) -> None:
        hook = LipaChatHook()
        first = hook.send_media(to=RECIPIENT, media_url="https://x.example/a.png")
        second = hook.send_media(to=RECIPIENT, media_url="https://x.example/a.png")
        assert first.message_id != second.message_id
        assert len(lipachat_emulator.deliveries()) == 2

    def test_quirk_raises_an_auth_error(self, monkeypatch: pytest.MonkeyPatch, lipachat_emulator: Emulator) -> None:
        use_connection(monkeypatch, connection_json(lipachat_emulator.base_url, "wrong-key"))
        with pytest.raises(LipaChatAuthError):
            LipaChatHook().send_media(to=RECIPIENT, media_url="https://x.example/a.png")


class TestConnectionTest:
    def test_success_reports_templates(self, lipachat_emulator: Emulator, lipachat_conn: str) -> None:
        ok, message = LipaChatHook().test_connection()
        assert ok, message
        assert "1 template(s) for 2541******47" in message
        assert lipachat_emulator.requests()[0]["path"] == f"/api/v1/template/{SANDBOX_SENDER}"

    def test_invalid_credentials_quirk_is_a_failure(
        self, monkeypatch: pytest.MonkeyPatch, lipachat_emulator: Emulator
    ) -> None:
        use_connection(monkeypatch, connection_json(lipachat_emulator.base_url, "wrong-key"))
        ok, message = LipaChatHook().test_connection()
        assert not ok
        assert "Invalid credentials" in message
        assert "wrong-key" not in message

    def test_unreachable_gateway_is_a_failure_without_retries(
        self, monkeypatch: pytest.MonkeyPatch, lipachat_emulator: Emulator
    ) -> None:
        lipachat_emulator.add_fault("status", status=503, count=5)
        use_connection(monkeypatch, connection_json(lipachat_emulator.base_url, lipachat_emulator.api_key))
        ok, message = LipaChatHook().test_connection()
        assert not ok and "HTTP 503" in message
        assert len(lipachat_emulator.requests()) == 1

    def test_bad_connection_is_a_failure_not_an_exception(self, monkeypatch: pytest.MonkeyPatch) -> None:
        use_connection(monkeypatch, connection_json("http://gateway.lipachat.com", "k"))
        ok, message = LipaChatHook().test_connection()
        assert not ok and "plain http://" in message


class TestLegacyForm:
    def test_ui_field_behaviour_matches_provider_info(self) -> None:
        behaviour = LipaChatHook.get_ui_field_behaviour()
        assert behaviour["hidden_fields"] == ["login", "schema", "extra"]
        assert behaviour["relabeling"]["password"] == "API Key"
        assert behaviour["placeholders"] == UI_FIELD_BEHAVIOUR["placeholders"]

    def test_form_widgets_cover_every_conn_field(self) -> None:
        widgets = LipaChatHook.get_connection_form_widgets()
        assert (
            set(widgets)
            == set(CONN_FIELDS)
            == {"from_number", "default_region", "timeout", "max_retries", "rate_limit", "rate_limit_store_conn_id"}
        )


class TestTextAndTemplate:
    def test_send_text_and_template_use_the_connection_sender(
        self, lipachat_emulator: Emulator, lipachat_conn: str
    ) -> None:
        hook = LipaChatHook()
        hook.send_text(to=RECIPIENT, message="hello", message_id="t-1")
        hook.send_template(
            to=RECIPIENT,
            template_name="daily_report",
            header_media_url="https://x.example/clip.mp4",
            body_placeholders=["a", "b"],
            message_id="t-2",
        )
        text, template = lipachat_emulator.deliveries()
        assert text["payload"] == {"messageId": "t-1", "message": "hello", "from": SANDBOX_SENDER, "to": RECIPIENT}
        assert template["payload"]["from"] == SANDBOX_SENDER
        assert template["payload"]["template"]["components"]["header"] == {
            "type": "VIDEO",
            "mediaUrl": "https://x.example/clip.mp4",
        }

    def test_invalid_text_is_refused_before_any_request(self, lipachat_emulator: Emulator, lipachat_conn: str) -> None:
        with pytest.raises(LipaChatValidationError, match="at most 4096"):
            LipaChatHook().send_text(to=RECIPIENT, message="x" * 5000)
        assert lipachat_emulator.requests() == []


class TestAirflowCli:
    """``airflow connections test`` runs the hook's test_connection against the emulator."""

    def run_cli(self, conn_json: str, **more_env: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW_CONN_LIPACHAT_DEFAULT": conn_json,
            **more_env,
        }
        return subprocess.run(
            [sys.executable, "-m", "airflow", "connections", "test", "lipachat_default"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def test_reports_success(self, airflow_db: object, lipachat_emulator: Emulator) -> None:
        done = self.run_cli(connection_json(lipachat_emulator.base_url, lipachat_emulator.api_key))
        assert "Connection success!" in done.stdout, done.stdout + done.stderr
        [request] = lipachat_emulator.requests()
        assert (request["path"], request["outcome"]) == (f"/api/v1/template/{SANDBOX_SENDER}", "listed")

    def test_reports_the_invalid_credentials_quirk_as_a_failure(
        self, airflow_db: object, lipachat_emulator: Emulator
    ) -> None:
        done = self.run_cli(connection_json(lipachat_emulator.base_url, "wrong-key"))
        assert "Connection failed!" in done.stdout, done.stdout + done.stderr
        assert "Invalid credentials" in done.stdout
        assert "wrong-key" not in done.stdout + done.stderr

    def test_pings_the_rate_limit_s_store_and_names_it_when_it_is_down_never_its_password(
        self, airflow_db: object, lipachat_emulator: Emulator, tmp_path: Path
    ) -> None:
        redis_server_or_skip()
        store = RedisServer(tmp_path, password="store-pass-5150")
        conn = connection_json(
            lipachat_emulator.base_url, lipachat_emulator.api_key, rate_limit=40, rate_limit_store_conn_id="rate_store"
        )
        store.start()
        try:
            up = self.run_cli(conn, AIRFLOW_CONN_RATE_STORE=store.url)
            pings = redis.Redis.from_url(store.url).info("commandstats").get("cmdstat_ping", {}).get("calls", 0)
        finally:
            store.stop()
        down = self.run_cli(conn, AIRFLOW_CONN_RATE_STORE=store.url)  # the same port, closed now

        assert "Connection success!" in up.stdout, up.stdout + up.stderr
        assert pings == 1  # the CLI prints no message on success (no release does): the store says it was pinged
        assert "Connection failed!" in down.stdout, down.stdout + down.stderr
        assert "the shared rate limit's store (connection 'rate_store') did not answer" in flat(down.stdout)
        assert "ConnectionError" in down.stdout
        for output in (up.stdout + up.stderr, down.stdout + down.stderr):
            assert "store-pass-5150" not in output and lipachat_emulator.api_key not in output

    def test_says_the_rate_limit_s_store_refused_the_password_never_showing_it(
        self, airflow_db: object, lipachat_emulator: Emulator, redis_server_with_password: RedisServer
    ) -> None:
        conn = connection_json(
            lipachat_emulator.base_url, lipachat_emulator.api_key, rate_limit=40, rate_limit_store_conn_id="rate_store"
        )
        refused = self.run_cli(
            conn, AIRFLOW_CONN_RATE_STORE=redis_server_with_password.url.replace(STORE_PASSWORD, "wrong-5151")
        )

        output = refused.stdout + refused.stderr
        assert "Connection failed!" in refused.stdout, output
        assert "the shared rate limit's store refused the credentials of connection 'rate_store'" in flat(
            refused.stdout
        )
        assert "did not answer" not in output
        assert STORE_PASSWORD not in output and "wrong-5151" not in output and lipachat_emulator.api_key not in output


class TestSharedRateLimit:
    """The connection's ``rate_limit_store_conn_id`` names a Redis connection that shares the number's limit."""

    def shared_connection(self, monkeypatch: pytest.MonkeyPatch, emulator: Emulator, store_url: str) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_RATE_STORE", store_url)
        use_connection(
            monkeypatch,
            connection_json(emulator.base_url, emulator.api_key, rate_limit=40, rate_limit_store_conn_id="rate_store"),
        )

    def test_the_client_draws_from_the_store_and_paces_only_the_tasks_own_limit_alone(
        self, monkeypatch: pytest.MonkeyPatch, lipachat_emulator: Emulator, redis_server: RedisServer
    ) -> None:
        self.shared_connection(monkeypatch, lipachat_emulator, redis_server.url)
        client = LipaChatHook(rate_limit=10).get_conn()
        assert client.shared_rate_limit is not None
        assert repr(client.shared_rate_limit) == "SharedRateLimit(store='rate_store', per_second=40)"
        assert client.rate_limiter is not None and client.rate_limiter.per_second == 10
        assert LipaChatHook().get_conn().rate_limiter is None  # the shared budget is the number's only limit

    def test_a_send_reserves_a_slot_in_the_numbers_budget(
        self, monkeypatch: pytest.MonkeyPatch, lipachat_emulator: Emulator, redis_server: RedisServer
    ) -> None:
        import redis

        from airflow_provider_lipachat.gateway.shared_ratelimit import budget_key

        self.shared_connection(monkeypatch, lipachat_emulator, redis_server.url)
        LipaChatHook().send_text(to=RECIPIENT, message="hello")
        assert redis.Redis.from_url(redis_server.url).exists(budget_key(lipachat_emulator.base_url, SANDBOX_SENDER))

    def test_two_spellings_of_one_gateway_draw_from_one_budget_when_sending(
        self, monkeypatch: pytest.MonkeyPatch, lipachat_emulator: Emulator, redis_server: RedisServer
    ) -> None:
        """A URL with upper case and a trailing slash, and host, schema and port as separate fields: one budget."""
        monkeypatch.setenv("AIRFLOW_CONN_RATE_STORE", redis_server.url)
        port = lipachat_emulator.base_url.rsplit(":", 1)[1]
        shared = {"rate_limit": 1, "rate_limit_store_conn_id": "rate_store"}
        as_url = connection_json(lipachat_emulator.base_url.upper() + "/", lipachat_emulator.api_key, **shared)
        as_fields = json.dumps({**json.loads(as_url), "host": "127.0.0.1", "schema": "HTTP", "port": int(port)})
        use_connection(monkeypatch, as_url, "spelled_as_url")
        use_connection(monkeypatch, as_fields, "spelled_as_fields")

        LipaChatHook("spelled_as_url").send_text(to=RECIPIENT, message="first")
        LipaChatHook("spelled_as_fields").send_text(to=RECIPIENT, message="second")

        first, second = (
            datetime.fromisoformat(r["received_at"][:26]).timestamp()
            for r in lipachat_emulator.requests()
            if r["outcome"] == "delivered"
        )
        assert second - first >= 1.0  # the second waited for the next slot of the number's 1/s budget

    def test_a_gateway_with_its_default_port_spelled_out_shares_the_budget_of_the_usual_spelling(
        self, monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
    ) -> None:
        """Reserving through each connection's hook, as a send does before it calls the gateway (not called here)."""
        from airflow_provider_lipachat.gateway.shared_ratelimit import budget_key

        monkeypatch.setenv("AIRFLOW_CONN_RATE_STORE", redis_server.url)
        shared = {"rate_limit": 1, "rate_limit_store_conn_id": "rate_store"}
        spellings = [
            "https://gateway.lipachat.com",
            "https://gateway.lipachat.com:443",
            "HTTPS://Gateway.LipaChat.com/",
        ]
        limits = []
        for n, host in enumerate(spellings):
            use_connection(monkeypatch, connection_json(host, "k-1", **shared), f"gateway_{n}")
            limit = LipaChatHook(f"gateway_{n}").shared_rate_limit()
            assert limit is not None
            limits.append(limit)

        started = time.monotonic()
        for limit in limits:
            limit.acquire(SANDBOX_SENDER)
        took = time.monotonic() - started

        assert took >= 2.0  # three slots of one 1/s budget: the second and third waited
        keys = redis.Redis.from_url(redis_server.url).keys("lipachat:rate:*")
        assert keys == [budget_key("https://gateway.lipachat.com", SANDBOX_SENDER).encode()]

    def test_a_store_connection_that_does_not_exist_is_refused_naming_the_field(
        self, monkeypatch: pytest.MonkeyPatch, lipachat_emulator: Emulator
    ) -> None:
        use_connection(
            monkeypatch,
            connection_json(
                lipachat_emulator.base_url, lipachat_emulator.api_key, rate_limit=40, rate_limit_store_conn_id="nope"
            ),
        )
        with pytest.raises(LipaChatValidationError) as refused:
            LipaChatHook().send_text(to=RECIPIENT, message="hello")
        assert refused.value.field == "rate_limit_store_conn_id"
        assert "AIRFLOW_CONN_NOPE" in str(refused.value)
        assert lipachat_emulator.requests() == []

    def test_the_connection_test_pings_the_store(
        self, monkeypatch: pytest.MonkeyPatch, lipachat_emulator: Emulator, redis_server: RedisServer
    ) -> None:
        self.shared_connection(monkeypatch, lipachat_emulator, redis_server.url)
        ok, message = LipaChatHook().test_connection()
        assert ok and message.endswith("the rate limit's store 'rate_store' answered")

        redis_server.stop()
        ok, message = LipaChatHook().test_connection()
        assert not ok and "the shared rate limit's store (connection 'rate_store') did not answer" in message

    def test_a_store_that_refuses_the_password_says_so_and_never_shows_it(
        self, monkeypatch: pytest.MonkeyPatch, lipachat_emulator: Emulator, redis_server_with_password: RedisServer
    ) -> None:
        self.shared_connection(
            monkeypatch, lipachat_emulator, redis_server_with_password.url.replace(STORE_PASSWORD, "wrong-881")
        )
        refusal = "the shared rate limit's store refused the credentials of connection 'rate_store'"

        ok, message = LipaChatHook().test_connection()
        assert not ok and message.startswith(refusal) and "did not answer" not in message

        with pytest.raises(LipaChatRateLimitStoreError) as refused:
            LipaChatHook().send_text(to=RECIPIENT, message="hello")
        assert str(refused.value).startswith(refusal) and "did not answer" not in str(refused.value)
        assert lipachat_emulator.deliveries() == []
        for said in (message, str(refused.value)):
            assert STORE_PASSWORD not in said and "wrong-881" not in said


@pytest.mark.parametrize(
    ("argument", "value", "accepted"),
    [
        ("rate_limit", "ten", "expected messages per second"),
        ("rate_limit", 0, "expected messages per second"),
        ("timeout", "soon", "expected a number of seconds greater than 0"),
        ("timeout", -1, "expected a number of seconds greater than 0"),
        ("max_retries", 11, "expected a whole number from 0 to 10"),
        ("max_retries", "3.5", "expected a whole number from 0 to 10"),
    ],
)
def test_a_bad_override_is_refused_by_the_hook_itself_naming_the_argument(
    argument: str, value: object, accepted: str
) -> None:
    with pytest.raises(LipaChatValidationError) as refused:
        LipaChatHook(**{argument: value})
    assert refused.value.field == argument
    assert accepted in str(refused.value)


def test_overrides_given_as_text_are_read_as_numbers(lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    hook = LipaChatHook(rate_limit="10", timeout="2.5", max_retries="1")
    assert (hook.settings.task_rate_limit, hook.settings.timeout, hook.settings.max_retries) == (10.0, 2.5, 1)
