"""Hypothesis strategies for international mail, and the message a client would send.

Texts are drawn from many scripts (Latin with diacritics, Cyrillic, Greek,
CJK, Hangul, kana, Arabic, Hebrew, emoji, and mixtures of them); headers are
written the ways mail clients write them (raw UTF-8, RFC 2047 B or Q words in
several charsets, folded); bodies in UTF-8, ISO-8859-x, Shift_JIS, KOI8-R or
windows-1252 with 7bit, 8bit, quoted-printable or base64. ``IntlPost.raw()``
is the message, ``expected_*`` what every reader of it must see.
"""

from __future__ import annotations

import base64
import email.base64mime
import email.quoprimime
import quopri
import uuid
from dataclasses import dataclass

from hypothesis import strategies as st

SCRIPTS: dict[str, str] = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
             "àáâãäåçèéêëìíîïñòóôõöùúûüýÿßøæœÀÉÖÜŁłŚśŻżČčŠšŽžŐőŰű",
    "cyrillic": "".join(chr(c) for c in range(0x410, 0x450)) + "ёЁ",
    "greek": "".join(chr(c) for c in range(0x391, 0x3CA) if c != 0x3A2),
    "cjk": "".join(chr(c) for c in range(0x4E00, 0x4E80)) + "你好世界会议中文日本語",
    "hangul": "".join(chr(c) for c in range(0xAC00, 0xAC60)) + "회의안녕하세요",
    "kana": "".join(chr(c) for c in range(0x3041, 0x3097)) + "カタカナ",
    "arabic": "".join(chr(c) for c in range(0x621, 0x64B)),
    "hebrew": "".join(chr(c) for c in range(0x5D0, 0x5EB)),
    "emoji": "😀😂🥰😎🤔👍🎉🚀🌍❤️✨🔥🙏",
}
PUNCT = " .,!?-:()'\"/&"

HEADER_CHARSETS = ["utf-8", "iso-8859-1", "iso-8859-2", "iso-8859-5", "iso-8859-7",
                   "iso-8859-8", "koi8-r", "windows-1252", "shift_jis", "euc-kr", "gb2312"]
BODY_CHARSETS = ["utf-8", "iso-8859-1", "iso-8859-2", "iso-8859-5", "iso-8859-7",
                 "iso-8859-15", "shift_jis", "koi8-r", "windows-1252"]
CTES = ["7bit", "8bit", "quoted-printable", "base64"]


def clean(text: str) -> str:
    return " ".join(text.split())


@st.composite
def script_text(draw, min_size: int = 1, max_size: int = 300, punct: str = PUNCT) -> str:
    """Text in one script or a mixture, with blanks and punctuation; never blank."""
    names = draw(st.lists(st.sampled_from(sorted(SCRIPTS)), min_size=1, max_size=3,
                          unique=True))
    alphabet = "".join(SCRIPTS[n] for n in names) + punct
    text = draw(st.text(alphabet=alphabet, min_size=min_size, max_size=max_size))
    text = clean(text)
    if not text:
        text = SCRIPTS[names[0]][:1]
    return text


def _charset_for(text: str, wanted: str) -> str:
    try:
        text.encode(wanted)
        return wanted
    except UnicodeEncodeError:
        return "utf-8"


def encoded_words(text: str, charset: str, q: bool) -> str:
    """``text`` as RFC 2047 encoded-words, a few characters each, folded between words."""
    step = 5 if q else 10
    words = []
    for i in range(0, len(text), step):
        chunk = text[i:i + step].encode(charset)
        words.append(email.quoprimime.header_encode(chunk, charset) if q
                     else email.base64mime.header_encode(chunk, charset))
    return "\r\n ".join(words)


@dataclass
class HeaderForm:
    """How a client wrote a header: raw UTF-8, or encoded-words (B or Q) in a charset."""

    mode: str  # raw | b | q
    charset: str

    def subject(self, text: str) -> str:
        if self.mode == "raw" and len(text.encode()) < 900:
            return text
        return encoded_words(text, _charset_for(text, self.charset), self.mode == "q")

    def mailbox(self, name: str, address: str) -> str:
        if self.mode == "raw" and len(name.encode()) < 900:
            quoted = name.replace("\\", "\\\\").replace('"', '\\"')
            return f'"{quoted}" <{address}>'
        return f"{encoded_words(name, _charset_for(name, self.charset), self.mode == 'q')}" \
               f" <{address}>"


header_forms = st.builds(HeaderForm, st.sampled_from(["raw", "b", "q"]),
                         st.sampled_from(HEADER_CHARSETS))


@st.composite
def body_text(draw) -> str:
    lines = draw(st.lists(script_text(max_size=70), min_size=1, max_size=8))
    return "\n".join(lines)


@dataclass
class IntlPost:
    subject: str
    name: str
    text: str
    form: HeaderForm
    body_charset: str
    cte: str
    with_message_id: bool

    def raw(self, sender: str = "bob@example.org", to: str = "demo@groups.localhost") -> bytes:
        charset = _charset_for(self.text, self.body_charset)
        data = self.text.replace("\n", "\r\n").encode(charset) + b"\r\n"
        cte = self.cte
        if cte == "7bit" and not data.isascii():
            cte = "8bit"
        if cte == "quoted-printable":
            data = quopri.encodestring(data.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
        elif cte == "base64":
            data = base64.encodebytes(data).replace(b"\n", b"\r\n")
        head = [f"From: {self.form.mailbox(self.name, sender)}",
                f"To: {to}",
                f"Subject: {self.form.subject(self.subject)}",
                "Date: Mon, 23 Nov 2026 10:00:00 +0000",
                f"X-Mailer: intlmail {uuid.uuid4().hex}"]  # no two examples the same bytes
        if self.with_message_id:
            head.append(f"Message-ID: <{uuid.uuid4().hex}@example.org>")
        head += ["MIME-Version: 1.0",
                 f"Content-Type: text/plain; charset={charset}",
                 f"Content-Transfer-Encoding: {cte}"]
        return "\r\n".join(head).encode() + b"\r\n\r\n" + data

    @property
    def expected_subject(self) -> str:
        return clean(self.subject)

    @property
    def expected_name(self) -> str:
        return clean(self.name)


intl_posts = st.builds(
    IntlPost,
    subject=script_text(max_size=300),
    name=script_text(max_size=60),
    text=body_text(),
    form=header_forms,
    body_charset=st.sampled_from(BODY_CHARSETS),
    cte=st.sampled_from(CTES),
    with_message_id=st.booleans(),
)
