"""A parent that reports, forks (as Celery prefork does), and a child that reports too."""

import logging
import os
import sys

from errord.install import install

handler = install(sys.argv[1])
log = logging.getLogger("worker")
log.error("parent %d before fork", os.getpid())
handler.flush()
pid = os.fork()
if pid == 0:
    log.error("child %d after fork", os.getpid())
    handler.flush()
    os._exit(0)
_, status = os.waitpid(pid, 0)
print(f"child {pid} exited {status}", flush=True)
