"""Every footer placement, parsed back with the email package and verified with dkimpy."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import dkim
import pytest

from karl.compose import Composer
from karl.dkimkeys import (
    dns_record,
    ed25519_path,
    ed25519_selector,
    ensure_ed25519_key,
    ensure_key,
)
from karl.dkimsign import body_hash, load_key
from karl.mimeplan import Base64Slot, PartSlot
from tests.conftest import CORPORA
from tests.karl.conftest import DOMAIN, dnsfunc_for, karl_mail

FOOTER = {"text": "--\nTo leave {{ group }}: {{ unsubscribe_url }}\nHi {{ name }}!"}
BOB = {"group": "demo", "unsubscribe_url": "https://groups.localhost/u/bob-token",
       "name": "Bob Müller"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    path = ensure_key(tmp_path_factory.mktemp("dkim") / "k.pem")
    ensure_ed25519_key(path)
    rsa = load_key(path.read_bytes(), DOMAIN, "groups")
    ed = load_key(ed25519_path(path).read_bytes(), DOMAIN, ed25519_selector("groups"))
    records = dict([dns_record(path, "groups", DOMAIN),
                    dns_record(ed25519_path(path), ed25519_selector("groups"), DOMAIN)])

    def dnsfunc(qname, timeout=5):  # noqa: ARG001
        value = records.get(qname.decode().rstrip("."))
        return value.encode() if value else None

    return {"path": path, "rsa": rsa, "ed": ed, "dnsfunc": dnsfunc}


def personalise(raw: bytes, keys, footer=FOOTER, variables=BOB) -> tuple[bytes, Composer]:
    composer = Composer(raw, headers=[["List-Id", "<demo.groups.localhost>"]],
                        remove_headers=["DKIM-Signature"], footer=footer, keys=[keys["rsa"]],
                        domain=DOMAIN)
    out = composer.compose(variables, [["List-Unsubscribe", "<https://groups.localhost/u/b>"]])
    assert dkim.verify(out, dnsfunc=keys["dnsfunc"]), out.decode(errors="replace")[:2000]
    return out, composer


def parts(raw: bytes) -> list[email.message.EmailMessage]:
    """The leaf parts, parsed as a mail reader would (line ends as LF)."""
    msg = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
    return [p for p in msg.walk() if not p.is_multipart()]


def test_text_plain_gets_the_footer_after_a_blank_line_and_ascii_becomes_utf8(keys):
    out, _ = personalise(karl_mail("plain.eml"), keys)
    [part] = parts(out)
    text = part.get_content()
    assert text.startswith("Hello everyone,   with  some    spaces.")
    assert "Bye.\n\n--\nTo leave demo: https://groups.localhost/u/bob-token\nHi Bob Müller!" in text
    assert part.get_content_charset() == "utf-8"
    msg = email.message_from_bytes(out, policy=email.policy.default)
    assert msg["List-Id"] == "<demo.groups.localhost>"
    assert msg["List-Unsubscribe"] == "<https://groups.localhost/u/b>"


def test_html_footer_goes_before_body_close_and_is_escaped(keys):
    variables = BOB | {"name": "<script>alert(1)</script>"}
    out, _ = personalise(karl_mail("html.eml"), keys, variables=variables)
    [part] = parts(out)
    html = part.get_content()
    footer_at = html.index('<div class="list-footer">')
    assert html.index("café</p>") < footer_at < html.lower().rindex("</body>")
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_alternative_quoted_printable_latin1_keeps_charset_and_gets_both_footers(keys):
    out, composer = personalise(karl_mail("alternative_qp.eml"), keys,
                                variables=BOB | {"name": "Jürgen"})
    plain, html = parts(out)
    assert plain.get_content_charset() == html.get_content_charset() == "iso-8859-1"
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert plain.get_content().startswith("Grüße aus Köln, a long line that goes on and on")
    assert "encoder wrap it softly." in plain.get_content()
    assert plain.get_content().rstrip().endswith("Hi Jürgen!")
    assert "Grüße aus Köln</p>" in html.get_content()
    assert html.get_content().index("Hi Jürgen!") < html.get_content().index("</body>")
    assert not composer.plan.fallback


def test_a_footer_outside_the_parts_charset_falls_back_to_utf8_without_loss(keys):
    out, _ = personalise(karl_mail("alternative_qp.eml"), keys, variables=BOB | {"name": "Zoë 李"})
    plain, html = parts(out)
    assert "Hi Zoë 李!" in plain.get_content() and "Grüße aus Köln" in plain.get_content()
    assert "Hi Zoë 李!" in html.get_content()


def test_mixed_footer_goes_after_the_body_and_before_the_attachment(keys):
    raw = karl_mail("mixed_attachment.eml")
    original_attachment = parts(raw)[2].get_content()
    out, _ = personalise(raw, keys)
    plain, html, attachment = parts(out)
    assert plain.get_content().rstrip().endswith("Hi Bob Müller!")
    assert "Body text — with a dash." in plain.get_content()
    assert "https://groups.localhost/u/bob-token" in html.get_content()
    assert attachment.get_filename() == "data.bin"
    assert attachment.get_content() == original_attachment == bytes(range(128))
    msg = email.message_from_bytes(out, policy=email.policy.default)
    assert msg.preamble.strip() == "This is a multi-part message in MIME format."


def test_base64_body_stays_base64_and_decodes_with_the_footer(keys):
    out, composer = personalise(karl_mail("base64_text.eml"), keys)
    assert any(isinstance(i, Base64Slot) for i in composer.plan.items)
    [part] = parts(out)
    assert part["Content-Transfer-Encoding"] == "base64"
    text = part.get_content()
    assert text.startswith("Hello from a base64 body, with ümlauts")
    assert "Second line.\n\n--\nTo leave demo" in text


def test_html_without_body_tag_latin1_base64_gets_footer_at_the_end(keys):
    out, _ = personalise(karl_mail("html_latin1_no_body.eml"), keys)
    [part] = parts(out)
    assert part.get_content_charset() == "iso-8859-1"
    html = part.get_content()
    assert html.startswith("<p>Café au lait</p>")
    # the name has ü: in latin-1 it fits, so it is written as is
    assert html.rstrip().endswith("Hi Bob Müller!</div>")


def test_a_body_that_is_not_text_gets_a_new_footer_part_before_the_rest(keys):
    out, composer = personalise(karl_mail("image_first.eml"), keys)
    assert any(isinstance(i, PartSlot) for i in composer.plan.items)
    image, footer = parts(out)
    assert image.get_content_type() == "image/png" and image.get_content()[:4] == b"\x89PNG"
    assert footer.get_content_type() == "text/plain"
    assert "https://groups.localhost/u/bob-token" in footer.get_content()


def test_every_recipient_gets_their_own_footer_from_one_plan(keys):
    composer = Composer(karl_mail("mixed_attachment.eml"), footer=FOOTER, keys=[keys["rsa"]],
                        domain=DOMAIN)
    for name in ("Alice", "Bob", "Dora"):
        out = composer.compose(BOB | {"name": name})
        assert dkim.verify(out, dnsfunc=keys["dnsfunc"])
        assert f"Hi {name}!" in parts(out)[0].get_content()


def test_shared_prefix_body_hash_equals_a_whole_body_hash(keys):
    composer = Composer(karl_mail("alternative_qp.eml"), footer=FOOTER, keys=[], domain=DOMAIN)
    body, bh = composer.plan.body_for("foot  \t", "<p>foot</p>")
    assert bh == body_hash(body)


def test_ed25519_signature_beside_rsa_verifies(keys):
    composer = Composer(karl_mail("plain.eml"), footer=FOOTER, keys=[keys["rsa"], keys["ed"]],
                        domain=DOMAIN)
    out = composer.compose(BOB)
    verifier = dkim.DKIM(out)
    assert verifier.verify(idx=0, dnsfunc=keys["dnsfunc"])
    assert verifier.verify(idx=1, dnsfunc=keys["dnsfunc"])
    assert b"a=ed25519-sha256" in out


def test_no_footer_leaves_the_body_byte_for_byte(keys):
    raw = karl_mail("mixed_attachment.eml")
    composer = Composer(raw, keys=[keys["rsa"]], domain=DOMAIN)
    out = composer.compose()
    assert dkim.verify(out, dnsfunc=keys["dnsfunc"])
    assert out.split(b"\r\n\r\n", 1)[1] == raw.replace(b"\n", b"\r\n").split(b"\r\n\r\n", 1)[1]


CORPUS = sorted((CORPORA / "mime" / "rfc").glob("*.eml"))[:10] + sorted(
    (CORPORA / "mime" / "legacy").glob("*.eml"))[::6]


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_messages_keep_their_structure_and_verify(path: Path, keys):
    raw = path.read_bytes()
    before = parts(raw)
    out, _ = personalise(raw, keys)
    after = parts(out)
    assert [p.get_content_type() for p in after[:len(before)]] == \
        [p.get_content_type() for p in before] or len(after) == len(before) + 1
    for old, new in zip(before, after, strict=False):
        if old.get_content_maintype() not in ("text", "multipart") and \
                old.get_content_type() == new.get_content_type():
            assert old.get_payload(decode=True) == new.get_payload(decode=True)
    text = "".join(p.get_content() for p in after
                   if p.get_content_maintype() == "text" and p.get_content_disposition()
                   != "attachment")
    if any(p.get_content_type() in ("text/plain", "text/html") for p in before):
        assert "bob-token" in text


def test_dns_record_matches_dnsfunc_fixture(keys):
    assert dnsfunc_for(keys["path"])(b"groups._domainkey.groups.localhost.").startswith(
        b"v=DKIM1; k=rsa; p=")


def test_the_jobs_variables_reach_every_copy_and_a_recipients_own_win(keys):
    """A fan-out sends the variables all copies share once, in the job (``vars``)."""
    composer = Composer(karl_mail("plain.eml"), footer={"text": "{{ name }} of {{ group }}"},
                        keys=[keys["rsa"]], domain=DOMAIN,
                        variables={"group": "demo", "name": "a member"})
    bob = composer.compose({"name": "Bob"})
    anon = composer.compose()
    assert dkim.verify(bob, dnsfunc=keys["dnsfunc"])
    assert parts(bob)[0].get_content().rstrip().endswith("Bob of demo")
    assert parts(anon)[0].get_content().rstrip().endswith("a member of demo")


def test_a_copys_own_fields_are_signed_with_the_shared_ones_in_order(keys):
    """The shared fields are prepared for signing once per job (dkimsign.HeaderSigner);
    a copy's own fields, folded, non-ASCII, a name the original also had, and two of one
    name, are signed bottom-up among them, and the 7-bit twin is signed as sent."""
    raw = karl_mail("plain.eml")
    composer = Composer(raw, headers=[["List-Id", "<demo.groups.localhost>"],
                                      ["Reply-To", "demo@groups.localhost"]],
                        remove_headers=["DKIM-Signature"], footer=FOOTER,
                        keys=[keys["rsa"], keys["ed"]], domain=DOMAIN)
    own = [["List-Unsubscribe", "<mailto:demo+unsubscribe@groups.localhost>,\r\n"
                                " <https://groups.localhost/u/bob-token>"],
           ["Subject", "Grüße für Bob"], ["Reply-To", "bob@example.org"],
           ["Reply-To", "carol@example.org"]]
    for headers in (own, own[:1], []):
        copy = composer.compose(BOB, headers)
        for form in (bytes(copy), copy.seven_bit):
            if form is None:
                continue
            verifier = dkim.DKIM(form)
            for index in range(2):  # both signatures: RSA and Ed25519
                assert verifier.verify(idx=index, dnsfunc=keys["dnsfunc"]), form[:3000]
        signed = email.message_from_bytes(bytes(copy)).get_all("DKIM-Signature")[0]
        names = signed.replace("\r\n", "").replace(" ", "").split("h=")[1].split(";")[0]
        assert names.split(":").count("reply-to") == (2 if headers is own else 1)
        assert ("list-unsubscribe" in names.split(":")) == bool(headers)
