"""Instructions per copy of a fan-out job in Karl, counted by callgrind (repeatable on a loaded machine).

bench/bench_fanout.py's CPU times move by +-0.02 ms a copy with whatever else
the two cores run; a change of a few microseconds a copy is only seen here.
Two deterministic parts of Karl's per-copy work, on a real fan-out job (built
by messageserver.fanout.build_job for a post to a group on a fresh SQLite
DATA_DIR), each run under callgrind with N and 3N recipients; the difference
over 2N is the instructions a copy, start-up and imports cancelled:

- ``worker``: compose each copy (karl.compose: headers, footer, DKIM) with the
  RSA operation replaced by a constant (the signature costs the same whatever
  the code around it; bench_fanout times it);
- ``server``: what Karl's server does with each recipient: the job's JSON
  parsed, validated and fingerprinted (its Idempotency-Key), spooled, read back
  when due and its outcome recorded (in batches of 100, the "finished" event
  included).

Usage: python bench/callgrind_fanout.py [--recipients 1000] [--root OTHER_CHECKOUT]
(--root counts the same parts on another checkout, e.g. the code before a change,
with the same job.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_job(path: Path, members: int) -> None:
    """A post's fan-out job to ``members`` members, as messageserver builds it (JSON to ``path``)."""
    from bench.posts import accepted_post

    message = accepted_post("demo", members)
    from messageserver import fanout

    job = fanout.build_job(message, bytes(message.raw.data), fanout.recipients(message, []))
    path.write_text(json.dumps(job))


def run_part(part: str, job_file: Path, n: int, key_file: Path) -> None:
    """One part over the job's first ``n`` recipients (the process callgrind counts)."""
    from karl.contract import validate_job

    data = json.loads(job_file.read_text())
    data["recipients"] = data["recipients"][:n]
    if part == "worker":
        from karl import dkimsign
        from karl.compose import Composer

        dkimsign.SigningKey.sign_data = lambda self, signed: b"x" * 256  # the RSA, constant
        key = dkimsign.load_key(key_file.read_bytes(), "groups.localhost", "groups")
        job = validate_job(data)
        spec = job.spec()
        composer = Composer(job.message, headers=spec["headers"],
                            remove_headers=spec["remove_headers"], footer=spec["footer"],
                            variables=spec["vars"], keys=[key], domain="groups.localhost")
        for rcpt in job.recipients:
            composer.compose(rcpt.get("vars"), rcpt.get("headers") or ())
        return
    from karl import idempotency
    from karl.spool import Spool

    body = json.dumps(data).encode()  # the request as it arrives (its making counted too)
    spool = Spool(tempfile.mkdtemp(prefix="cg-spool-"))
    try:
        request = json.loads(body)
        job = validate_job(request)
        job_id = spool.add_job_once(job, "outbox-1-1", idempotency.fingerprint(request)).job_id
        due = spool.due(10**15, n, set())
        for i in range(0, len(due), 100):
            spool.record([(d, d.record | {"state": "sent", "attempts": 1}, None)
                          for d in due[i:i + 100]], [], sync=False)
        assert spool.job_spec(job_id) is not None and not spool.due(10**15, 1, set())
    finally:
        shutil.rmtree(spool.path, ignore_errors=True)


def instructions(root: Path, part: str, job_file: Path, n: int, key_file: Path) -> int:
    out = Path(tempfile.mkdtemp(prefix="cg-")) / "callgrind.out"
    env = dict(os.environ, PYTHONHASHSEED="0")
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                    sys.executable, __file__, "--part", part, "--code", str(root),
                    "--job", str(job_file), "--key", str(key_file), "-n", str(n)],
                   cwd=root, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    totals = re.search(r"^totals: (\d+)", out.read_text(errors="replace"), re.MULTILINE)
    shutil.rmtree(out.parent, ignore_errors=True)
    assert totals, "callgrind wrote no totals"
    return int(totals.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--root", type=Path, help="another checkout to count as well")
    parser.add_argument("--part", choices=["worker", "server"], help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--job", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--key", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("-n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--make-job", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_job:
        make_job(args.make_job, args.n)
        return 0
    if args.part:
        sys.path.insert(0, str(args.code))  # the checkout whose karl is counted
        run_part(args.part, args.job, args.n, args.key)
        return 0
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed")
    n = args.recipients
    work = Path(tempfile.mkdtemp(prefix="callgrind-fanout-"))
    try:
        from karl.dkimkeys import ensure_key

        key_file = ensure_key(work / "k.pem")  # made once: key generation is not repeatable
        job_file = work / "job.json"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
        env.update(DATA_DIR=str(work / "data"), GROUPS_DOMAIN="groups.localhost",
                   SECRET_KEY="callgrind-" + "k" * 50)
        subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT,
                       env=env, check=True)
        subprocess.run([sys.executable, __file__, "--make-job", str(job_file), "-n",
                        str(3 * n)], cwd=ROOT, env=env, check=True)
        for root in [ROOT, *([args.root.resolve()] if args.root else [])]:
            for part in ("worker", "server"):
                small = instructions(root, part, job_file, n, key_file)
                large = instructions(root, part, job_file, 3 * n, key_file)
                print(f"{root}: {part} {(large - small) / (2 * n):,.0f} instructions a "
                      f"recipient ({small:,} with {n:,}, {large:,} with {3 * n:,})", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
