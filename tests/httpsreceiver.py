"""A real HTTPS server that takes webhook POSTs, for the webhook tests.

It records every request (headers and body) and answers 200, or 500 while
``fail_next`` is above zero (a receiver that is down for a while). Its
certificate is tests.tlscert's self-signed one: the sender trusts it through
WEBHOOK_CA_FILE, as an operator trusts a private CA.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.tlscert import certificate


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    ca_file: str
    requests: list[Request] = field(default_factory=list)
    fail_next: int = 0
    server: ThreadingHTTPServer | None = None

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def start_receiver() -> Receiver:
    cert = certificate()
    receiver = Receiver(url="", ca_file=str(cert.ca_file))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                receiver.requests.append(Request(self.path, dict(self.headers.items()), body))
                failing = receiver.fail_next > 0
                if failing:
                    receiver.fail_next -= 1
            self.send_response(500 if failing else 200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"down for now" if failing else b"thanks")

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.cert_file, cert.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver.server = server
    receiver.url = f"https://127.0.0.1:{server.server_address[1]}/hooks/groups"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
