"""The demo's media host: the report PDFs, served over HTTPS on 127.0.0.1 with a certificate made for the run.

WhatsApp fetches only https:// links, so the demo's links are https too. The certificate is
self-signed for 127.0.0.1; the processes that fetch the reports (the media preflight in Airflow's
tasks, and the emulator standing in for WhatsApp) trust it through ``REQUESTS_CA_BUNDLE``. The
files are answered by Python's ``http.server``, as ``python -m http.server`` would, over TLS.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def write_pdf(path: Path, text: str) -> None:
    """A one-page PDF showing ``text`` (plain ASCII), with the cross-reference table readers expect."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, content)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(body))


@dataclass
class MediaHost:
    """Where the host listens, and each request it answered: (path, Range header or None, HTTP status)."""

    base_url: str
    requests: list[tuple[str, str | None, int]] = field(default_factory=list)


class _Handler(SimpleHTTPRequestHandler):
    """Files from the served folder; each request recorded instead of printed."""

    server: _Server

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.server.host.requests.append((self.path, self.headers.get("Range"), int(code)))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    host: MediaHost

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that closes after the first bytes (the preflight reads 4 KB of the file) is no error."""


@contextlib.contextmanager
def serve(folder: Path, cert: Path, key: Path) -> Iterator[MediaHost]:
    """Serve ``folder`` over HTTPS on a free port of 127.0.0.1, in a thread, until the block ends."""
    server = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(folder)))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # The handshake runs in each request's thread, so one slow client never holds up the others.
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    server.host = host = MediaHost(f"https://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
