"""deploy/postfix/ for real: a private Postfix instance in front of the real smtpd.

The instance is Debian's Postfix with its own config directory, queue and port;
its main.cf is deploy/postfix/main.cf with the domain replaced and the
certificate lines left out, as docs/deploy.md tells an operator to do. smtpd
trusts XFORWARD from 127.0.0.1 (SMTPD_XFORWARD_HOSTS), and sender
authentication runs against the test zone of tests/messageserver/senderauth, whose good.test
allows only 127.0.0.1 by SPF and publishes p=reject.
"""

from __future__ import annotations

import re
import shutil
import smtplib
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.dnszone import nameserver
from tests.e2e.platform import PROJECT, Platform
from tests.messageserver.senderauth.conftest import dns_server, keys, message  # noqa: F401 - fixtures
from tests.messageserver.senderauth.test_smtp import query

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path("/usr/sbin/postfix").exists(),
                                 reason="Postfix is not installed (.ci/run installs it)")]
DEPLOY = PROJECT / "deploy" / "postfix"
CLUB = "club@groups.localhost"


class Postfix:
    """One Postfix instance in ``root`` listening on 127.0.0.1:``port``."""

    def __init__(self, port: int, smtpd_port: int, proxy: bool = False) -> None:
        # Postfix's daemons run as "postfix": pytest's 0700 folders are closed to them
        root = Path(tempfile.mkdtemp(prefix="postfix-test-"))
        root.chmod(0o755)
        self.root, self.port = root, port
        etc, queue, data = root / "etc", root / "queue", root / "data"
        for folder in (etc, queue, data):
            folder.mkdir(parents=True)
        shutil.chown(data, "postfix")
        ours = (DEPLOY / "main.cf").read_text().replace("groups.example.org", "groups.localhost")
        ours = ours.replace("hash:/etc/postfix/transport", f"hash:{etc}/transport")
        ours = "\n".join(line for line in ours.splitlines() if not line.startswith("smtpd_tls_"))
        (etc / "main.cf").write_text(f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.1/32
maillog_file_prefixes = /tmp
maillog_file = {root}/maillog
syslog_name = postfix-test-{port}
{ours}
""")
        master = Path("/etc/postfix/master.cf").read_text()
        # no chroot (its jail lacks our files); our own port for the public service
        master = re.sub(r"^(\S+\s+(?:unix|fifo|inet|pass|unix-dgram)\s+\S+\s+\S+)\s+y\b", r"\1 n",
                        master, flags=re.M)
        master = re.sub(r"^smtp\s+inet.*$", "", master, flags=re.M)
        service = f"127.0.0.1:{port} inet n - n - - smtpd\n"
        if proxy:  # deploy/postfix/master.cf's options on our listener
            options = re.findall(r"^\s+(-o \S+)$", (DEPLOY / "master.cf").read_text(), re.M)
            service += "".join(f"  {o.replace(':2525', f':{smtpd_port}')}\n" for o in options)
        (etc / "master.cf").write_text(master + "\n" + service)
        transport = (DEPLOY / "transport").read_text().replace("groups.example.org", "groups.localhost")
        (etc / "transport").write_text(transport.replace(":2525", f":{smtpd_port}"))
        self.run("postmap", f"hash:{etc}/transport")
        self.run("postfix", "check")
        self.run("postfix", "start")
        deadline = time.monotonic() + 30
        while True:
            try:
                smtplib.SMTP("127.0.0.1", port, timeout=5).quit()
                break
            except OSError:
                assert time.monotonic() < deadline, self.log()
                time.sleep(0.2)

    def run(self, program: str, *args: str) -> None:
        result = subprocess.run([f"/usr/sbin/{program}", "-c", str(self.root / "etc"), *args],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (program, args, result.stderr, self.log()[-3000:])

    def stop(self) -> None:
        subprocess.run(["/usr/sbin/postfix", "-c", str(self.root / "etc"), "abort"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_log(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log())
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} not in the Postfix log:\n{self.log()[-4000:]}")


@pytest.fixture(scope="module")
def platform(tmp_path_factory, dns_server) -> Iterator[Platform]:  # noqa: F811
    p = Platform(tmp_path_factory.mktemp("postfix")).prepare()
    p.env.update({"SENDER_AUTH": "on", "DMARC_NAMESERVER": nameserver(dns_server[0]),
                  "SMTPD_XFORWARD_HOSTS": "127.0.0.1"})
    try:
        p.manage("creategroup", "club", "--owner", "olga@good.test", "--title", "Club")
        p.start("smtpd", "messageserver", "karl")
        yield p
    finally:
        p.stop()
        print(f"--- smtpd log ---\n{p.log('smtpd')[-3000:]}")


def send(port: int, source: str, subject: str) -> tuple[int, str]:
    """One post from olga@good.test through Postfix; RCPT is retried while Postfix is
    still verifying the address with smtpd (450 4.1.1, as a sending MTA would retry)."""
    deadline = time.monotonic() + 60
    while True:
        with smtplib.SMTP("127.0.0.1", port, timeout=60, source_address=(source, 0)) as client:
            client.ehlo("mx.good.test")
            client.mail("olga@good.test")
            code, text = client.rcpt(CLUB)
            if code == 450 and time.monotonic() < deadline:
                time.sleep(1)
                continue
            assert code == 250, (code, text)
            try:
                code, text = client.data(message("olga@good.test", CLUB, subject))
            except smtplib.SMTPDataError as exc:
                code, text = exc.smtp_code, exc.smtp_error
            return code, text.decode()


def archived(platform: Platform, subject: str, timeout: float = 60) -> list[str]:
    """The archived post's Authentication-Results, waiting for Postfix to hand it over."""
    deadline = time.monotonic() + timeout
    while True:
        headers = query(platform, f"""
import email
from groups.models import Message
m = Message.objects.filter(group__name='club', subject={subject!r}).first()
out = email.message_from_bytes(bytes(m.raw.data)).get_all('Authentication-Results') if m else None""")
        if headers is not None:
            return headers
        assert time.monotonic() < deadline, f"{subject!r} was not archived"
        time.sleep(0.5)


def test_postfix_relays_the_groups_domain_to_smtpd_with_the_real_client(platform):
    postfix = Postfix(free_port(), platform.ports["smtpd"])
    try:
        code, text = send(postfix.port, "127.0.0.1", "Through Postfix")
        assert code == 250, text  # queued by Postfix
        [header] = archived(platform, "Through Postfix")
        # SPF saw the sender's own address and HELO, forwarded by Postfix with XFORWARD
        assert "spf=pass" in header and "smtp.helo=mx.good.test" in header, header
        postfix.wait_log(rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{platform.ports['smtpd']}.*status=sent")

        # from an address good.test's SPF doesn't allow: smtpd refuses at DATA, after
        # Postfix said 250, so Postfix bounces it (the caveat docs/deploy.md names)
        code, _ = send(postfix.port, "127.0.0.2", "Forged via Postfix")
        assert code == 250
        bounced = postfix.wait_log(r"status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: "
                                   r"550 5\.7\.1 DMARC policy of good\.test is reject")
        assert bounced
        assert query(platform, "from groups.models import Message\nout = list(Message.objects"
                     ".filter(subject='Forged via Postfix').values_list('id', flat=True))") == []

        # a foreign domain is no relay
        with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30, source_address=("127.0.0.2", 0)) as c:
            c.ehlo("mx.good.test")
            c.mail("olga@good.test")
            code, text = c.rcpt("someone@elsewhere.example")
            assert code in (454, 554) and b"Relay access denied" in text  # 4xx: Postfix 3 default
    finally:
        postfix.stop()


def test_the_proxy_alternative_gives_smtpds_refusal_to_the_sender(platform):
    postfix = Postfix(free_port(), platform.ports["smtpd"], proxy=True)
    try:
        code, text = send(postfix.port, "127.0.0.2", "Forged via the proxy")
        assert code == 550 and text.startswith("5.7.1 DMARC policy of good.test is reject"), text
        code, text = send(postfix.port, "127.0.0.1", "Through the proxy")
        assert code == 250, text
        [header] = archived(platform, "Through the proxy", timeout=10)  # accepted means archived
        assert "spf=pass" in header and "smtp.helo=mx.good.test" in header, header
    finally:
        postfix.stop()
