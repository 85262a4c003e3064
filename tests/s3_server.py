"""An S3-compatible server on loopback for tests: moto's server application, spoken over HTTPS.

moto's ``ThreadedMotoServer`` serves plain HTTP, and WhatsApp takes only https:// links (a
signed URL follows the endpoint's scheme), so the same moto application is served here with
the test certificate. Real S3 differs in two ways worth knowing: moto serves expired links and
answers HEAD on GET-signed ones, where S3 answers 403.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.media_host import TLSFiles, ssl_context

BUCKET = "reports"


@dataclass
class S3Server:
    endpoint_url: str
    conn_id: str
    client: Any  # a boto3 S3 client on the server, for set-up and checks


def clear_object_store_cache() -> None:
    """Airflow caches one filesystem per scheme and connection; each test's server is new."""
    from airflow_provider_lipachat.compat import AIRFLOW_V3

    if AIRFLOW_V3:
        from airflow.sdk.io import store
    else:
        from airflow.io import store  # type: ignore[no-redef]
    store._STORE_CACHE.clear()


@pytest.fixture
def s3_server(trust_test_ca: TLSFiles, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """moto on a free loopback port over HTTPS, a ``reports`` bucket, and ``aws_moto`` pointing at it."""
    import boto3
    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):  # type: ignore[misc]
        """No access log: it would print signed URLs into the output the tests search for leaks."""

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    server = make_server(
        "127.0.0.1",
        0,
        DomainDispatcherApplication(create_backend_app),
        threaded=True,
        request_handler=QuietHandler,
        ssl_context=ssl_context(trust_test_ca),
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    endpoint_url = f"https://127.0.0.1:{server.server_address[1]}"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    extra = {"endpoint_url": endpoint_url, "region_name": "us-east-1", "config_kwargs": {"signature_version": "s3v4"}}
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_MOTO",
        json.dumps({"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_AWS_ANONYMOUS", json.dumps({"conn_type": "aws", "extra": extra}))
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        verify=str(trust_test_ca.cert),
    )
    client.create_bucket(Bucket=BUCKET)
    clear_object_store_cache()
    try:
        yield S3Server(endpoint_url, "aws_moto", client)
    finally:
        clear_object_store_cache()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
