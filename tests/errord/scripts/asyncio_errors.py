"""An asyncio process that logs an error in a task and loses another task's exception.

It prints "logged" and then keeps running, so the test sees the reports arrive
while the process is alive (sent in the background, not at exit).
"""

import asyncio
import gc
import logging
import sys

from errord.install import asyncio_exception_handler, install

logging.basicConfig(level=logging.INFO)
install(sys.argv[1])
log = logging.getLogger("karl.delivery")


async def deliver(recipients: dict[str, str]) -> None:
    try:
        recipients["bob@example.org"]
    except KeyError:
        log.exception("delivery to %s failed", "bob@example.org")


async def forgotten() -> None:
    raise ConnectionResetError("peer went away")


async def main() -> None:
    asyncio.get_running_loop().set_exception_handler(asyncio_exception_handler)
    await asyncio.create_task(deliver({}))
    task = asyncio.create_task(forgotten())
    await asyncio.sleep(0.05)
    del task  # "Task exception was never retrieved" goes to the loop's exception handler
    gc.collect()
    print("logged", flush=True)
    await asyncio.sleep(60)


asyncio.run(main())
