"""Real SMTP servers that speak TLS and AUTH, for Karl's transport tests.

``start_secure_sink`` is conftest's ``Sink`` with aiosmtpd's own STARTTLS,
implicit TLS and authenticator switched on; its handler records, for each
copy, whether it came over TLS and who had logged in, so a test sees what the
server saw rather than what the client believes it did. The certificate is a
throw-away self-signed one (``cryptography``) for 127.0.0.1 and localhost;
``SelfSignedCert.ca_file`` is what a client has to trust to verify it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import free_port
from tests.karl.conftest import Sink, SinkHandler
from tests.tlscert import SelfSignedCert, certificate  # noqa: F401  (re-exported)


@dataclass
class Copy:
    """One copy as the server saw it: over TLS (which version) and under which login."""

    rcpt: str
    tls: str | None
    login: str | None


class SecureSinkHandler(SinkHandler):
    def __init__(self, users: dict[str, str], pipelining: bool = True) -> None:
        super().__init__(pipelining)
        self.users = users
        self.auth_attempts: list[tuple[str, str, bool]] = []  # mechanism, login, accepted
        self.copies: list[Copy] = []

    def authenticate(self, server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN201
        ok = isinstance(auth_data, LoginPassword) and self.users.get(
            auth_data.login.decode()) == auth_data.password.decode()
        with self.lock:
            self.auth_attempts.append((mechanism, auth_data.login.decode(), ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
        tls = server.transport.get_extra_info("ssl_object")
        login = session.login_data.decode() if session.login_data else None
        with self.lock:
            self.copies.extend(Copy(rcpt, tls.version() if tls else None, login)
                               for rcpt in envelope.rcpt_tos)
        return await super().handle_DATA(server, session, envelope)


def start_secure_sink(*, starttls: bool = True, implicit_tls: bool = False,
                      users: dict[str, str] | None = None, auth_require_tls: bool = True,
                      mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN"),
                      hostname: str = "127.0.0.1", port: int | None = None) -> Sink:
    """A sink offering STARTTLS (or speaking TLS from the first byte) and, given users, AUTH."""
    handler = SecureSinkHandler(users or {})
    cert = certificate()
    kwargs: dict = {"data_size_limit": 50 * 1024 * 1024}
    if implicit_tls:
        kwargs["ssl_context"] = cert.server_context()
    elif starttls:
        kwargs["tls_context"] = cert.server_context()
    if users:
        kwargs.update(authenticator=handler.authenticate, auth_require_tls=auth_require_tls,
                      auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN")
                                              if m not in mechanisms])
    controller = Controller(handler, hostname=hostname, port=port or free_port(), **kwargs)
    controller.start()
    return Sink(handler, controller, controller.port)
