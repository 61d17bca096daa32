"""The supervisor behind `make run`: prefixed output, restart on crash, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from groups.supervisor import Supervisor
    py = sys.executable
    Supervisor([
        ("steady", [py, "-c", "import time; print('steady up', flush=True); time.sleep(60)"]),
        ("crashy", [py, "-c", "print('crashy up', flush=True); raise SystemExit(3)"]),
    ], cwd={root!r}, grace=5).run()
""")


def test_prefixes_restarts_a_crashed_child_and_stops_all_on_sigterm(tmp_path):
    root = str(Path(__file__).resolve().parents[1])
    script = tmp_path / "sup.py"
    script.write_text(SCRIPT.format(root=root))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    time.sleep(4)
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "steady        | steady up" in out or "steady | steady up" in out
    assert out.count("crashy up") >= 2, out  # restarted after exiting
    assert "exited with code 3; restarting" in out
    assert "steady" in out and "stopping" in out
    # no child left behind
    ps = subprocess.run(["pgrep", "-f", "steady up"], capture_output=True, text=True)
    assert ps.stdout.strip() == ""
