"""STARTTLS for smtpd: the certificate and key from SMTPD_TLS_CERT / SMTPD_TLS_KEY.

With both set, smtpd offers STARTTLS (RFC 3207) through aiosmtpd, so it can
listen on port 25 itself without Postfix in front. TLS stays optional for the
client: a public MX that required it would refuse mail from servers that
don't encrypt, and the mail still goes through sender authentication either
way. Setting only one of the two, or a file that can't be loaded, stops smtpd
at start-up naming the setting; it never falls back to plain text silently.
"""

from __future__ import annotations

import ssl

from platformcore.env import SettingError, env_str


def tls_context() -> ssl.SSLContext | None:
    """The server context for STARTTLS, or None when neither setting is given."""
    cert, key = env_str("SMTPD_TLS_CERT", ""), env_str("SMTPD_TLS_KEY", "")
    if not cert and not key:
        return None
    if not cert or not key:
        missing = "SMTPD_TLS_CERT" if not cert else "SMTPD_TLS_KEY"
        raise SettingError(f"{missing} is not set: STARTTLS needs both SMTPD_TLS_CERT "
                           "and SMTPD_TLS_KEY")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise SettingError(f"SMTPD_TLS_CERT={cert!r} / SMTPD_TLS_KEY={key!r} cannot be "
                           f"loaded: {exc}") from None
    return context
