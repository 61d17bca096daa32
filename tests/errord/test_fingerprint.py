"""The grouping rule, without sockets: what makes two reports the same error."""

from __future__ import annotations

from errord.fingerprint import fingerprint, normalise_message, parse_traceback

PROJECT = "/srv/groups"


def tb(line: int, exc: str = "KeyError: 'alice'", func: str = "deliver") -> str:
    return (
        "Traceback (most recent call last):\n"
        f'  File "{PROJECT}/karl/worker.py", line {line}, in run\n'
        "    self.deliver(job)\n"
        f'  File "{PROJECT}/karl/delivery.py", line {line + 40}, in {func}\n'
        "    rcpt = job.recipients[name]\n"
        "           ~~~~~~~~~~~~~~^^^^^^\n"
        f'  File "{PROJECT}/.venv/lib/python3.11/site-packages/lib/x.py", line 9, in get\n'
        "    return d[k]\n"
        f"{exc}\n"
    )


def fp(text: str, service: str = "karl", message: str = "failed"):
    return fingerprint(service, traceback=text, message=message, logger="karl",
                       project_dir=PROJECT)


def test_line_numbers_do_not_split_a_group():
    assert fp(tb(10)).fingerprint == fp(tb(17)).fingerprint


def test_exception_message_does_not_split_but_type_function_and_service_do():
    base = fp(tb(10)).fingerprint
    assert fp(tb(10, exc="KeyError: 'bob'")).fingerprint == base
    assert fp(tb(10, exc="ValueError: 'alice'")).fingerprint != base
    assert fp(tb(10, func="send")).fingerprint != base
    assert fp(tb(10), service="smtpd").fingerprint != base


def test_where_is_the_innermost_frame_of_our_code_not_the_venv():
    grouping = fp(tb(10))
    assert grouping.where == "karl/delivery.py:deliver"
    assert grouping.exc_type == "KeyError"


def test_the_last_traceback_of_a_chain_is_the_one_that_counts():
    chained = (tb(5, exc="KeyError: 'x'") + "\nDuring handling of the above exception, "
               "another exception occurred:\n\n" + tb(5, exc="RuntimeError: wrapped", func="send"))
    parsed = parse_traceback(chained)
    assert parsed.exc_type == "RuntimeError"
    assert parsed.exc_message == "wrapped"
    assert fp(chained).where == "karl/delivery.py:send"


def test_frames_outside_the_project_still_group_by_file_name():
    text = ('Traceback (most recent call last):\n  File "/tmp/x/script.py", line 3, in boom\n'
            "    1/0\nZeroDivisionError: division by zero\n")
    grouping = fp(text)
    assert grouping.where == "script.py:boom"
    assert grouping.exc_type == "ZeroDivisionError"


def test_messages_without_traceback_group_once_numbers_and_addresses_are_normalised():
    a = fingerprint("smtpd", traceback="", message="session 0x7f3a2b10 from 10.0.0.7:4455 "
                    "for bob@example.org failed after 3 tries", logger="smtpd.session")
    b = fingerprint("smtpd", traceback="", message="session 0x7f00ffee from 192.168.1.9:80 "
                    "for dora@example.com failed after 12 tries", logger="smtpd.session")
    c = fingerprint("smtpd", traceback="", message="session 0x7f00ffee refused",
                    logger="smtpd.session")
    other_logger = fingerprint("smtpd", traceback="", message="session 0x7f3a2b10 from "
                               "10.0.0.7:4455 for bob@example.org failed after 3 tries",
                               logger="smtpd.other")
    assert a.fingerprint == b.fingerprint
    assert len({a.fingerprint, c.fingerprint, other_logger.fingerprint}) == 3


def test_normalise_message_placeholders():
    assert normalise_message("job 1f3e9a7c22 of 12 at <Obj at 0xdeadbeef>") == (
        "job <hex> of # at <Obj at <addr>>")
    assert normalise_message("id 123e4567-e89b-12d3-a456-426614174000") == "id <uuid>"
