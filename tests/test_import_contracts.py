"""The import contracts of pyproject.toml hold, and a backwards import breaks them.

``make lint`` runs lint-imports; these run the same tool on the repository and
on a copy with one arrow turned the wrong way, so a contract that checks
nothing (a typo in a module name, a contract type that never fails) shows here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("platformcore", "groups", "messageserver", "karl", "errord", "smtpd", "cronjobs",
            "search", "importers")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(where: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(where / "pyproject.toml"),
                           "--no-cache"], cwd=where, env=env, capture_output=True, text=True,
                          timeout=120)


def copy_of_the_repository(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_messageserver_importing_a_job_breaks_a_contract(tmp_path):
    repo = copy_of_the_repository(tmp_path)
    with open(repo / "messageserver" / "outbox.py", "a") as f:
        f.write("\nfrom cronjobs import bouncer  # noqa: E402,F401  (the arrow reversed)\n")
    result = lint_imports(repo)
    assert result.returncode == 1
    assert "messageserver is not allowed to import cronjobs" in result.stdout


def test_karl_importing_django_through_the_core_breaks_a_contract(tmp_path):
    repo = copy_of_the_repository(tmp_path)
    with open(repo / "platformcore" / "env.py", "a") as f:
        f.write("\nimport django.conf  # noqa: E402,F401\n")
    result = lint_imports(repo)
    assert result.returncode == 1
    assert "karl is not allowed to import django" in result.stdout
    assert "platformcore is not allowed to import django" in result.stdout
