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
    root = str(Path(__file__).resolve().parents[2])
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


TREE = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from groups.supervisor import Supervisor
    py = sys.executable
    # "parent" starts a grandchild the way Karl starts its workers: it arms the
    # parent-death signal itself, with the pid its parent handed over.
    grandchild = ("import os, sys, time; sys.path.insert(0, {root!r}); "
                  "from platformcore.proctree import die_with_parent; "
                  "die_with_parent(int(sys.argv[1])); time.sleep(120)")
    parent = ("import os, subprocess, sys, time; "
              f"subprocess.Popen([sys.executable, '-c', {{grandchild!r}}, str(os.getpid())]); "
              "print('parent up', flush=True); time.sleep(120)")
    Supervisor([
        ("parent", [py, "-c", parent]),
        ("plain", [py, "-c", "import time; print('plain up', flush=True); time.sleep(120)"]),
    ], cwd={root!r}, grace=5).run()
""")


def _tree(pid: int) -> list[int]:
    from tests.karl.test_once import descendants

    return list(descendants(pid))


def _start_tree(tmp_path: Path) -> subprocess.Popen:
    root = str(Path(__file__).resolve().parents[2])
    script = tmp_path / "tree.py"
    script.write_text(TREE.format(root=root))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    # supervisor's two children and the grandchild; a fork still on its way to exec
    # can show a fourth for a moment, so wait for the tree to settle
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(_tree(proc.pid)) != 3:
        time.sleep(0.1)
    assert len(_tree(proc.pid)) == 3, _tree(proc.pid)
    return proc


def _gone(pids: list[int], timeout: float = 10) -> list[int]:
    from tests.karl.test_once import alive

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def test_kill_9_of_the_supervisor_alone_takes_children_and_grandchildren(tmp_path):
    proc = _start_tree(tmp_path)
    tree = _tree(proc.pid)
    assert all(os.getpgid(p) == proc.pid for p in tree), "children left the supervisor's group"
    os.kill(proc.pid, signal.SIGKILL)  # the supervisor only, not its group
    proc.wait(10)
    left = _gone(tree)
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert left == []


def test_kill_9_of_the_process_group_stops_everything(tmp_path):
    proc = _start_tree(tmp_path)
    tree = _tree(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)  # what an operator does: kill -9 -PGID
    proc.wait(10)
    left = _gone(tree)
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert left == []


PORT_TAKEN = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from groups.supervisor import Supervisor
    py = sys.executable
    Supervisor([("taken", [py, "-c", "print('OSError: [Errno 98] error while attempting to bind "
                                    "on address: address already in use', flush=True); "
                                    "raise SystemExit(1)"])],
               cwd={root!r}, grace=5).run()
""")


def test_a_child_whose_port_is_taken_is_not_restarted_in_a_tight_loop(tmp_path):
    root = str(Path(__file__).resolve().parents[2])
    script = tmp_path / "taken.py"
    script.write_text(PORT_TAKEN.format(root=root))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    time.sleep(8)
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    starts = out.count("started (pid")
    assert 1 <= starts <= 2, out  # a crashing child would be started 5 times in 8 s
    assert "its port is taken: is another platform running?" in out


def test_a_pid_lock_is_held_once_and_names_its_holder(tmp_path):
    from platformcore.pidlock import AlreadyRunning, PidLock

    path = tmp_path / "runplatform.pid"
    root = str(Path(__file__).resolve().parents[2])
    holder = subprocess.Popen([sys.executable, "-c", (
        f"import sys, time; sys.path.insert(0, {root!r}); from platformcore.pidlock import PidLock; "
        f"PidLock({str(path)!r}, 'runplatform').acquire(); print('held', flush=True); "
        "time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        try:
            PidLock(path, "runplatform").acquire()
        except AlreadyRunning as exc:
            assert exc.pid == holder.pid
            assert f"another runplatform is already running on this data (pid {holder.pid}" \
                in str(exc)
        else:
            raise AssertionError("the lock was taken twice")
    finally:
        holder.kill()
        holder.wait()
    with PidLock(path, "runplatform"):  # the kernel dropped the dead holder's lock
        assert path.read_text().strip() == str(os.getpid())


CTRL_C = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from groups.supervisor import Supervisor
    py = sys.executable
    Supervisor([
        ("quiet", [py, "-c", "import time; print('quiet up', flush=True); time.sleep(60)"]),
    ], cwd={root!r}, grace=5).run()
""")


def test_ctrl_c_to_the_foreground_group_stops_children_without_tracebacks(tmp_path):
    """A terminal's Ctrl-C signals the whole foreground group: children must leave it to
    the supervisor (SIGTERM, a clean stop) instead of dying of KeyboardInterrupt."""
    root = str(Path(__file__).resolve().parents[2])
    script = tmp_path / "sup.py"
    script.write_text(CTRL_C.format(root=root))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if subprocess.run(["pgrep", "-f", "quiet up"], capture_output=True).returncode == 0:
            break
        time.sleep(0.2)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "quiet up" in out and "stopping" in out
    assert "KeyboardInterrupt" not in out and "Traceback" not in out, out
    assert subprocess.run(["pgrep", "-f", "quiet up"], capture_output=True).stdout == b""
