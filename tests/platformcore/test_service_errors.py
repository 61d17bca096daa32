"""One error hierarchy for the three internal clients, against a real HTTP server.

errord.client, karl.client and messageserver.client used to disagree (a 5xx was
"unavailable" for messageserver and a plain error for Karl and errord); now a
status means the same for all three: platformcore.internalhttp.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from errord.client import ErrordClient, ErrordError, ErrordUnavailable
from karl.client import KarlClient, KarlError, KarlInvalid, KarlUnavailable
from messageserver.client import MessageServerClient, MessageServerError, MessageServerUnavailable
from platformcore.internalhttp import (
    ServiceError,
    ServiceInvalid,
    ServiceRefused,
    ServiceUnavailable,
)
from tests.conftest import free_port


class _Answer(BaseHTTPRequestHandler):
    """Answers every request with the status named by the path's last part."""

    def _reply(self) -> None:
        status = int(self.path.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or 200)
        body = json.dumps({"error": f"status {status}", "fields": {"x": "bad"}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def calls(base: str):
    """Each client's way to GET ``base/<status>``."""
    errord = ErrordClient(base, "t")
    karl = KarlClient(base, "t")
    ms = MessageServerClient(base, "t")
    return {"errord": lambda s: errord._call("GET", f"/{s}"),
            "karl": lambda s: karl._call("GET", f"/{s}"),
            "messageserver": lambda s: ms._call("GET", f"/{s}")}


@pytest.mark.parametrize("client", ["errord", "karl", "messageserver"])
@pytest.mark.parametrize("status,kind", [(500, ServiceUnavailable), (503, ServiceUnavailable),
                                         (429, ServiceUnavailable), (404, ServiceRefused),
                                         (409, ServiceRefused), (422, ServiceInvalid),
                                         (400, ServiceInvalid)])
def test_a_status_means_the_same_for_every_client(server, client, status, kind):
    with pytest.raises(kind) as raised:
        calls(server)[client](status)
    assert raised.value.status == status
    assert raised.value.body["error"] == f"status {status}"
    if kind is ServiceInvalid:
        assert raised.value.body["fields"] == {"x": "bad"}
        assert isinstance(raised.value, ServiceRefused)
    if kind is not ServiceUnavailable:
        assert not isinstance(raised.value, ServiceUnavailable)


@pytest.mark.parametrize("client", ["errord", "karl", "messageserver"])
def test_nobody_listening_is_unavailable(client):
    with pytest.raises(ServiceUnavailable) as raised:
        calls(f"http://127.0.0.1:{free_port()}")[client](200)
    assert raised.value.status == 0 and "unreachable" in str(raised.value)


def test_the_service_names_are_the_shared_classes():
    assert KarlUnavailable is MessageServerUnavailable is ErrordUnavailable is ServiceUnavailable
    assert KarlError is MessageServerError is ServiceRefused and KarlInvalid is ServiceInvalid
    assert ErrordError is ServiceError  # errord's callers catch every failure at once
