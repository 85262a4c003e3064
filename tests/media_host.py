"""A media host on loopback for tests: HTTPS with a throwaway certificate, files served as a CDN would.

WhatsApp takes only https:// media links, so the host speaks TLS; the certificate's CA is handed
to ``requests`` (and botocore) through ``REQUESTS_CA_BUNDLE`` / ``AWS_CA_BUNDLE`` for one test.
Every request is recorded, so a test can count what the preflight asked for.
"""

from __future__ import annotations

import contextlib
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lipachat.emulator.tls import make_certificate

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 200
PDF = b"%PDF-1.7\n" + b"report " * 100
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


@dataclass
class TLSFiles:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files."""

    cert: Path
    key: Path


def make_tls_files(folder: Path) -> TLSFiles:
    return TLSFiles(*make_certificate(folder, "lipachat test media host"))


@dataclass
class HostedFile:
    content_type: str | None
    body: bytes
    status: int = 200
    honours_range: bool = True
    location: str | None = None


@dataclass
class MediaHost:
    """Files by path; ``requests`` lists (method, path, Range header) for every request received."""

    files: dict[str, HostedFile] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    base_url: str = ""

    def put(self, path: str, body: bytes, content_type: str | None, **options: Any) -> str:
        self.files[path] = HostedFile(content_type, body, **options)
        return self.base_url + path

    def requests_for(self, path: str) -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[1].split("?")[0] == path]

    def ranged_requests_for(self, path: str) -> list[tuple[str, str, str | None]]:
        """The preflight's requests (it always asks for a byte range; WhatsApp's fetch does not)."""
        return [r for r in self.requests_for(path) if r[2] is not None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        host = self.server.host
        host.requests.append(("GET", self.path, self.headers.get("Range")))
        hosted = host.files.get(self.path.split("?")[0])
        if hosted is None or hosted.status != 200:
            status = 404 if hosted is None else hosted.status
            self.send_response(status)
            if hosted is not None and hosted.location is not None:
                self.send_header("Location", hosted.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, status, headers = hosted.body, 200, {}
        match = _RANGE.fullmatch(self.headers.get("Range") or "")
        if match and hosted.honours_range:
            start, end = int(match.group(1)), int(match.group(2) or len(body) - 1)
            end = min(end, len(body) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
            body, status = body[start : end + 1], 206
        self.send_response(status)
        if hosted.content_type is not None:
            self.send_header("Content-Type", hosted.content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.wfile.write(body)  # the preflight may close after the first bytes, as it should


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    host: MediaHost

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that refuses the test certificate (as an untrusting worker does) is not an error here."""


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def trust_test_ca(tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch) -> TLSFiles:
    """``requests`` and botocore trust the test certificate (and only it) for this test."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_files.cert))
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tls_files.cert))
    return tls_files


def ssl_context(tls_files: TLSFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files.cert, tls_files.key)
    return context


@contextlib.contextmanager
def serve_media(tls_files: TLSFiles) -> Iterator[MediaHost]:
    """An HTTPS media host on a free loopback port, in a thread, stopped on exit."""
    server = _Server(("127.0.0.1", 0), _Handler)
    # The handshake runs in each request's thread, so a slow or failing client never blocks accepting others.
    server.socket = ssl_context(tls_files).wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    server.host = MediaHost(base_url=f"https://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.host
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def media_host(trust_test_ca: TLSFiles) -> Iterator[MediaHost]:
    """An HTTPS media host on a free loopback port, stopped after the test."""
    with serve_media(trust_test_ca) as host:
        yield host
