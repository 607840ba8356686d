"""Start ``llama_cpp.server`` so that it never outlives the process that started it.

Run by the runtime environment's interpreter (standard library only; ``coding_director`` is not
importable there): ``python _runtime_launcher.py --config_file FILE``. Two guards, either enough:

- Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (prctl(2)): the kernel kills this process when the
  thread that started it exits, also after ``kill -9`` of the parent;
- a watchdog thread reading stdin, which the parent holds as a pipe it never writes: end of file
  means the parent is gone (every platform), and the process exits at once.

``CODING_DIRECTOR_PARENT_PID`` names the parent; if it already died before the guards were set up,
the launcher exits without starting the server.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import runpy
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1


def _watch_stdin() -> None:
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main() -> None:
    """Set up both guards, then run ``python -m llama_cpp.server`` with this process's arguments."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    parent = os.environ.get("CODING_DIRECTOR_PARENT_PID")
    if parent and os.getppid() != int(parent):
        sys.exit(0)
    threading.Thread(target=_watch_stdin, name="parent-watchdog", daemon=True).start()
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
