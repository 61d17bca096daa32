"""`make bench`: run every benchmark under bench/ in turn and print their figures.

Each bench/bench_*.py is a script that prints its own figures, each as an
absolute number and as a ratio against a reference measured in the same run.
Pass names to run only some: `python bench/run.py karl archive`.
Extra arguments after `--` go to every benchmark (e.g. `-- --quick`).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        idx = argv.index("--")
        argv, extra = argv[:idx], argv[idx + 1:]
    if "-h" in argv or "--help" in argv:
        print(__doc__)
        return 0
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(s.stem == f"bench_{n}" for n in argv)]
    failed = 0
    for script in scripts:
        print(f"=== {script.stem} ===", flush=True)
        start = time.monotonic()
        code = subprocess.call([sys.executable, str(script), *extra], cwd=HERE.parent)
        print(f"=== {script.stem}: exit {code} in {time.monotonic() - start:.1f}s ===\n",
              flush=True)
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
