"""`make bench`: run every benchmark under bench/ in turn and print their figures.

Each bench/bench_*.py is a script that prints its own figures, each as an
absolute number and as a ratio against a reference measured in the same run.
Pass names to run only some: `python bench/run.py karl archive`.
Extra arguments after `--` go to every benchmark (e.g. `-- --quick`).
Benchmarks whose full size takes long run reduced unless `--full` is given
(`make bench BENCH_ARGS=--full`): the archive benchmark runs 100,000 messages
(a few minutes) instead of 1,000,000 (half an hour); each says which size ran.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REDUCED = {"bench_archive": ["--quick"]}  # what `--full` leaves out


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        idx = argv.index("--")
        argv, extra = argv[:idx], argv[idx + 1:]
    if "-h" in argv or "--help" in argv:
        print(__doc__)
        return 0
    full = "--full" in argv
    argv = [a for a in argv if a != "--full"]
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(s.stem == f"bench_{n}" for n in argv)]
    failed = 0
    for script in scripts:
        print(f"=== {script.stem} ===", flush=True)
        start = time.monotonic()
        size = [] if full else REDUCED.get(script.stem, [])
        code = subprocess.call([sys.executable, str(script), *size, *extra], cwd=HERE.parent)
        print(f"=== {script.stem}: exit {code} in {time.monotonic() - start:.1f}s ===\n",
              flush=True)
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
