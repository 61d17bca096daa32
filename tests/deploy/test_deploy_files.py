"""deploy/ checked for real where this machine can: systemd-analyze, nginx -t, postconf and
postmap, and every command the units and the container run is started with --help (or
gunicorn's --check-config) from the project, so a renamed module or command fails here.

Docker itself is not run (no image is built in tests); the compose file is read with
PyYAML and held against the entry point and runplatform's list of processes.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from groups.management.commands.runplatform import process_specs
from tests.e2e.platform import PROJECT
from tests.tlscert import certificate

DEPLOY = PROJECT / "deploy"
UNITS = DEPLOY / "systemd"
INSTALLED = "/opt/groups/app"  # where docs/deploy.md installs the code
PROCESSES = sorted(name for name, _argv in process_specs())
DEFAULT_MAX_MESSAGE_SIZE = 26214400


def unit_options(path: Path) -> dict[str, list[str]]:
    """``Section.Key`` -> values (systemd allows repeated keys, configparser does not)."""
    options: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        options.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return options


def local_command(argv: list[str]) -> list[str]:
    """An installed command line as it runs from this checkout and its virtualenv."""
    program = Path(argv[0]).name
    rest = argv[1:]
    if program == "python":
        return [sys.executable, *rest]
    return [sys.executable, "-m", program, *rest]  # gunicorn


def probe(argv: list[str]) -> list[str]:
    """The same command asked only to show it exists: --help, or gunicorn's config check."""
    if argv[2:3] == ["gunicorn"] or (len(argv) > 2 and argv[2] == "gunicorn"):
        return [*argv, "--check-config"]
    return [*argv, "--help"]


def run_here(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path / "data"),
           "SITE_URL": "http://127.0.0.1:8000", "INTERNAL_API_TOKEN": "t",
           "SECRET_KEY": "k" * 50, "SENDER_AUTH": "off"}
    return subprocess.run(argv, cwd=PROJECT, env=env, capture_output=True, text=True,
                          timeout=120)


# ---- systemd ------------------------------------------------------------------------

def test_one_unit_per_process_and_a_target_wanting_them_all():
    units = {p.name for p in UNITS.glob("groups-*.service") if "@" not in p.name}
    assert units == {f"groups-{name}.service" for name in [*PROCESSES, "setup"]}
    [wants] = unit_options(UNITS / "groups.target")["Unit.Wants"]
    assert set(wants.split()) == units
    # more Karl nodes are instances of a template, enabled by the operator into the target
    templates = {p.name for p in UNITS.glob("groups-*@.service")}
    assert templates == {"groups-karl@.service"}
    assert unit_options(UNITS / "groups-karl@.service")["Install.WantedBy"] == ["groups.target"]
    for unit in units | templates:
        options = unit_options(UNITS / unit)
        assert options["Unit.PartOf"] == ["groups.target"], unit
        assert options["Service.EnvironmentFile"] == ["/etc/groups/groups.env"], unit
        assert options["Service.User"] == ["groups"], unit
        assert options["Service.WorkingDirectory"] == [INSTALLED], unit


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (the other unit tests still ran)")
    for unit in UNITS.iterdir():  # the install paths made this checkout's, so they exist
        text = unit.read_text().replace(f"{INSTALLED}/.venv", str(Path(sys.executable).parent.parent))
        (tmp_path / unit.name).write_text(text.replace(INSTALLED, str(PROJECT)))
    names = sorted(p.name for p in tmp_path.iterdir())
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def exec_starts() -> list[tuple[str, list[str]]]:
    out = []
    for unit in sorted(UNITS.glob("*.service")):
        for line in unit_options(unit)["Service.ExecStart"]:
            argv = shlex.split(line.replace("%i", "8012"))  # a template's instance, as systemd
            assert argv[0].startswith(f"{INSTALLED}/.venv/bin/"), (unit.name, line)
            out.append((unit.name, argv))
    return out


@pytest.mark.e2e
@pytest.mark.parametrize("unit,argv", exec_starts(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_exec_start_names_a_real_command(unit, argv, tmp_path):
    command = probe(local_command(argv))
    result = run_here(command, tmp_path)
    assert result.returncode == 0, (unit, command, result.stdout[-800:], result.stderr[-2000:])
    if "-m" in argv:  # our package, not a namesake (Python 3.11 has a stdlib smtpd)
        module = argv[argv.index("-m") + 1]
        where = run_here([sys.executable, "-c", "import importlib.util, sys; "
                          f"print(importlib.util.find_spec({module!r}).origin)"], tmp_path)
        assert Path(where.stdout.strip()).is_relative_to(PROJECT), (module, where.stdout)


# ---- the environment file -------------------------------------------------------------

def settings_read_by_the_code() -> set[str]:
    names = set()
    for package in ("groups", "smtpd", "messageserver", "karl", "errord", "cronjobs", "search"):
        for path in (PROJECT / package).rglob("*.py"):
            text = path.read_text()
            names |= set(re.findall(r'env_(?:str|int|bool|float|nameserver)\(\s*"([A-Z0-9_]+)"',
                                    text))
            names |= set(re.findall(r'os\.environ(?:\.get)?[\[(]"([A-Z0-9_]+)"', text))
            names |= set(re.findall(r'_port\("([A-Z0-9_]+)"', text))
    return names - {"DJANGO_SETTINGS_MODULE", "GROUPS_URLCONF"}


def settings_documented() -> set[str]:
    names = set()
    for doc in (PROJECT / "docs" / "operations.md", PROJECT / "README.md"):
        for row in re.findall(r"^\| (`[A-Z][^|]*)\|", doc.read_text(), re.M):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", row))
    return names - {"DJANGO_SETTINGS_MODULE", "GROUPS_URLCONF"}


def example_settings() -> dict[str, tuple[str, bool]]:
    """NAME -> (value, commented?) from deploy/groups.env.example."""
    out = {}
    for line in (DEPLOY / "groups.env.example").read_text().splitlines():
        match = re.match(r"^(#?)([A-Z][A-Z0-9_]+)=(.*)$", line)
        if match:
            out[match.group(2)] = (match.group(3), match.group(1) == "#")
    return out


def test_env_example_lists_every_setting():
    listed = set(example_settings())
    assert settings_read_by_the_code() - listed == set()
    assert settings_documented() - listed == set()


def test_env_example_values_parse(tmp_path):
    """Every value in the example, commented or not, passes the strict parsing at start-up."""
    values = {name: value for name, (value, _c) in example_settings().items()}
    values["DATA_DIR"] = str(tmp_path / "data")
    env = {"PATH": "/usr/bin:/bin", **values}
    script = ("from platformcore.env import get_env; from karl.config import from_env; "
              "from cronjobs.config import DigestSettings, BounceSettings, FeedSettings; "
              "from smtpd.xforward import trusted_hosts; "
              "from_env(); DigestSettings.from_env(); BounceSettings.from_env(); "
              "FeedSettings.from_env(); trusted_hosts(); print(get_env().groups_domain)")
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "groups.example.org"


# ---- nginx ----------------------------------------------------------------------------

def nginx_site_for_test(tmp_path: Path) -> str:
    """The site with the certbot and system paths replaced by the test's own files."""
    cert = certificate()
    site = (DEPLOY / "nginx" / "groups.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/groups.example.org/fullchain.pem", str(cert.cert_file))
    site = site.replace("/etc/letsencrypt/live/groups.example.org/privkey.pem", str(cert.key_file))
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    return site


def nginx_main_conf(tmp_path: Path, site: str) -> Path:
    (tmp_path / "groups.conf").write_text(site)
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/groups.conf;
}}
""")
    return conf


def test_nginx_accepts_the_site(tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx is not installed (.ci/run installs nginx-light)")
    conf = nginx_main_conf(tmp_path, nginx_site_for_test(tmp_path))
    result = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(tmp_path), "-e",
                             str(tmp_path / "error.log")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_body_limit_is_the_webs_own():
    from django.conf import settings

    site = (DEPLOY / "nginx" / "groups.conf").read_text()
    [limit] = re.findall(r"^\s*client_max_body_size (\d+)m;", site, re.M)
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2 * DEFAULT_MAX_MESSAGE_SIZE + 1024 * 1024
    assert int(limit) == math.ceil(settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1024 / 1024)


def test_nginx_proxies_the_webhook_to_messageserver_and_the_rest_to_the_web():
    site = (DEPLOY / "nginx" / "groups.conf").read_text()
    upstreams = dict(re.findall(r"upstream (\w+) \{\s*server 127\.0\.0\.1:(\d+);", site))
    assert upstreams == {"groups_web": "8000", "groups_messageserver": "8001"}  # default ports
    webhook = re.search(r"location = /inbound/webhook \{(.*?)\}", site, re.S).group(1)
    assert "proxy_pass http://groups_messageserver;" in webhook
    assert "X-Forwarded-Proto $scheme" in webhook
    root = re.search(r"location / \{\n(.*?)\}", site.split("listen 443")[1], re.S).group(1)
    assert "proxy_pass http://groups_web;" in root and "X-Forwarded-Proto $scheme" in root
    static = re.search(r"location /static/ \{(.*?)\}", site, re.S).group(1)
    assert "alias /var/lib/groups/static/;" in static  # DATA_DIR/static of the env example
    assert example_settings()["DATA_DIR"][0] == "/var/lib/groups"


# ---- Postfix --------------------------------------------------------------------------

def postfix_dir(tmp_path: Path) -> Path:
    """A config directory: this machine's main.cf and master.cf, ours applied as the docs say.

    docs/deploy.md sets our parameters with deploy/postfix/apply.sh (``postconf -e``
    each), so a parameter Debian's main.cf already has (myhostname, when Postfix was
    installed as an "Internet Site") is replaced, never set twice.
    """
    folder = tmp_path / "postfix"
    folder.mkdir()
    base = Path("/etc/postfix")
    main = (base / "main.cf").read_text() if (base / "main.cf").exists() else ""
    (folder / "main.cf").write_text(main)
    subprocess.run(["sh", str(DEPLOY / "postfix" / "apply.sh"), str(folder)], check=True,
                   timeout=60, env={**os.environ, "PATH": f"/usr/sbin:{os.environ['PATH']}"})
    shutil.copy(base / "master.cf", folder / "master.cf")
    shutil.copy(DEPLOY / "postfix" / "transport", folder / "transport")
    return folder


def test_postfix_snippet_is_clean_and_the_transport_map_points_at_smtpd(tmp_path):
    if shutil.which("postconf") is None and not Path("/usr/sbin/postconf").exists():
        pytest.skip("Postfix is not installed (.ci/run installs it)")
    folder = postfix_dir(tmp_path)
    shown = subprocess.run(["/usr/sbin/postconf", "-c", str(folder), "-n"],
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and "warning" not in shown.stderr, shown.stderr
    params = {name.strip(): value.strip() for name, _, value in
              (line.partition("=") for line in shown.stdout.splitlines())}
    assert params["relay_domains"] == "groups.example.org"
    assert params["smtp_send_xforward_command"] == "yes"
    assert int(params["message_size_limit"]) == DEFAULT_MAX_MESSAGE_SIZE
    subprocess.run(["/usr/sbin/postmap", "-c", str(folder), f"hash:{folder}/transport"],
                   check=True, timeout=30)
    looked_up = subprocess.run(["/usr/sbin/postmap", "-c", str(folder), "-q",
                                "groups.example.org", f"hash:{folder}/transport"],
                               capture_output=True, text=True, timeout=30)
    assert looked_up.stdout.strip() == "smtp:[127.0.0.1]:2525"  # SMTPD_PORT's default


def test_postfix_proxy_alternative_parses(tmp_path):
    if not Path("/usr/sbin/postconf").exists():
        pytest.skip("Postfix is not installed (.ci/run installs it)")
    folder = postfix_dir(tmp_path)
    master = (folder / "master.cf").read_text()
    master = re.sub(r"^smtp\s+inet.*$", "", master, flags=re.M)
    (folder / "master.cf").write_text(master + "\n" + (DEPLOY / "postfix" / "master.cf").read_text())
    shown = subprocess.run(["/usr/sbin/postconf", "-c", str(folder), "-M", "-f", "smtp/inet"],
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and "warning" not in shown.stderr, shown.stderr
    assert "-o smtpd_proxy_filter=[127.0.0.1]:2525" in shown.stdout


# ---- Docker ---------------------------------------------------------------------------

def entrypoint_processes() -> dict[str, str]:
    """process name -> the command line the entry point runs for it."""
    text = (DEPLOY / "docker-entrypoint.sh").read_text()
    return {name: command.strip() for name, command in
            re.findall(r"^\s+([a-z]+)\)\s+exec (.*?) ;;", text, re.M)}


def test_entrypoint_runs_the_same_commands_as_the_units():
    processes = entrypoint_processes()
    assert set(processes) == {*PROCESSES, "manage"}
    for name in PROCESSES:
        [line] = unit_options(UNITS / f"groups-{name}.service")["Service.ExecStart"]
        unit_argv = [Path(a).name if a.startswith("/opt/") else a for a in shlex.split(line)]
        assert shlex.split(processes[name].replace(' "$@"', "")) == unit_argv, name
    check = subprocess.run(["sh", "-n", str(DEPLOY / "docker-entrypoint.sh")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_compose_file_runs_each_process_once_with_the_services_it_needs():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    platform = {name: s for name, s in services.items() if s.get("image") == "groups:latest"}
    assert {name: s["command"] for name, s in platform.items()} == {
        name: [name] for name in [*PROCESSES, "setup"]}
    assert set(services) - set(platform) == {"postgres", "redis", "opensearch"}
    entry = entrypoint_processes()
    assert all(s["command"][0] in entry or s["command"][0] == "setup" for s in platform.values())
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in compose["volumes"], (name, source)
        depends = service.get("depends_on", {})
        assert set(depends) <= set(services), name
    for name, service in platform.items():
        env = service["environment"]
        assert env["DATA_DIR"] == "/data" and "groups-data:/data" in service["volumes"]
        assert env["REDIS_URL"].startswith("redis://redis:")  # never the SQLite broker
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:" in env["DATABASE_URL"]
        if name != "setup":
            assert service["depends_on"]["setup"]["condition"] == "service_completed_successfully"


def test_dockerfile_is_slim_unprivileged_and_copies_what_exists():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    [user] = re.findall(r"^USER (\S+)$", text, re.M)
    assert user not in ("root", "0")
    for source in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for path in source.split():
            assert (PROJECT / path).exists(), path
    assert "pip install" in text and 'ENTRYPOINT ["groups-entrypoint"]' in text
