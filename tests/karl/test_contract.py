"""The job and mail validators: what they accept, and a clear message for each bad field."""

from __future__ import annotations

import base64

import pytest

from karl.contract import InvalidRequest, validate_job, validate_mail
from karl.mailbuild import build_mail_job


def good(**extra):
    return {"message": "From: a@example.org\r\nSubject: s\r\n\r\nbody\r\n",
            "mail_from": "bounce@groups.localhost",
            "recipients": [{"address": "bob@example.org", "vars": {"name": "Bob"}}], **extra}


def fields_of(data) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as err:
        validate_job(data)
    return err.value.fields


def test_a_good_job_is_normalised():
    job = validate_job(good(footer={"text": "Hi {{ name }}"}, vars={"group": "demo"}))
    assert job.vars == {"group": "demo"} and job.spec()["vars"] == {"group": "demo"}
    assert job.message.startswith(b"From: a@example.org") and job.dkim is True
    assert job.events == ["bounced", "expired"] and job.lifetime == 5 * 24 * 3600
    raw = base64.b64encode(b"Subject: \xe9\r\n\r\n\xff\r\n").decode()
    data = good()
    del data["message"]
    assert validate_job(data | {"message_b64": raw}).message == b"Subject: \xe9\r\n\r\n\xff\r\n"


@pytest.mark.parametrize("change,field,text", [
    ({"message": None}, "message", "required"),
    ({"message_b64": "!!"}, "message", "not both"),
    ({"mail_from": "nobody"}, "mail_from", "not an email address"),
    ({"recipients": [{"address": "x@y.z", "vars": []}]}, "recipients[0].vars", "object"),
    ({"recipients": [{"address": "x@y.z", "mail_from": "bad"}]}, "recipients[0].mail_from",
     "not an email"),
    ({"footer": {"text": "{{ a b }}"}}, "footer.text", "template error"),
    ({"footer": {"text": "ok", "html": "{% for %}"}}, "footer.html", "template error"),
    ({"remove_headers": ["Bad Header"]}, "remove_headers", "header names"),
    ({"headers": [["X-A", "one\nX-B: two"]]}, "headers[0]", "line breaks"),
    ({"dkim": "yes"}, "dkim", "true or false"),
    ({"meta": [1]}, "meta", "object"),
    ({"vars": ["x"]}, "vars", "object"),
    ({"surprise": 1}, "surprise", "unknown field"),
])
def test_each_bad_field_is_named(change, field, text):
    data = good() | {k: v for k, v in change.items() if v is not None}
    for k, v in change.items():
        if v is None:
            data.pop(k)
    fields = fields_of(data)
    assert field in fields and text in fields[field], fields


def test_mail_needs_sender_recipient_and_body():
    with pytest.raises(InvalidRequest) as err:
        validate_mail({"to": "not-an-address", "subject": "a\nb"})
    assert set(err.value.fields) >= {"from", "to", "subject", "text"}


def test_mail_becomes_a_job_with_bcc_only_in_the_envelope():
    mail = validate_mail({"from": "Demo <demo@groups.localhost>", "to": "a@example.org",
                          "cc": ["c@example.org"], "bcc": ["b@example.org"],
                          "subject": "Hello", "text": "plain", "reply_to": "r@example.org"})
    job = build_mail_job(mail, domain="groups.localhost",
                         default_mail_from="bounce@groups.localhost")
    assert [r["address"] for r in job.recipients] == ["a@example.org", "c@example.org",
                                                      "b@example.org"]
    assert b"b@example.org" not in job.message and b"Reply-To: r@example.org" in job.message
    assert job.mail_from == "bounce@groups.localhost"
