"""Running a workspace's tests for real: detection of the test command, a subprocess with a
timeout, an output cap and a scrubbed environment, and the pass/fail counts of its summary line.

The test command runs in its own process group (``start_new_session``), so a timeout or a
cancellation kills everything it started (``SIGKILL`` to the group), not only the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path

from coding_director.wire import WireModel

#: Environment variables passed to the test command; everything else (API keys, tokens, the
#: user's cloud credentials) is left out.
KEPT_ENV = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "SYSTEMROOT",
    "GOPATH",
    "GOCACHE",
    "GOMODCACHE",
    "CARGO_HOME",
    "RUSTUP_HOME",
)

_COUNT = re.compile(r"(\d+)\s+(passed|failed|errors?)\b")


class TestRun(WireModel):
    """One run of the test command.

    ``exit_code`` is the process's exit status (``None`` when it was killed at its timeout);
    ``passed``/``failed`` come from the last summary line that reports them (pytest's
    ``2 failed, 3 passed``, cargo's ``3 passed; 1 failed``, jest's ``1 failed, 2 passed``; errors
    count as failed), ``None`` when the output has none. ``output`` is the tail of stdout+stderr,
    at most ``output_cap_bytes``; ``duration_ms`` is wall time in milliseconds.
    """

    __test__ = False  # not a pytest test class

    command: str
    exit_code: int | None
    passed: int | None = None
    failed: int | None = None
    timed_out: bool = False
    output: str = ""
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the command exited 0 and reported no failure."""
        return self.exit_code == 0 and not self.failed


def detect_test_command(root: Path, python: str | None = None) -> str | None:
    """The test command for the project at ``root``, or ``None`` when none is recognised.

    In order: pytest (``pyproject.toml``, ``setup.cfg``, ``pytest.ini``, ``tox.ini`` or a ``tests/``
    folder or ``test_*.py`` file), ``npm test`` (``package.json`` with a ``test`` script),
    ``go test ./...`` (``go.mod``), ``cargo test`` (``Cargo.toml``). pytest runs with ``python``
    (default: the workspace's ``.venv`` interpreter when there is one, else this interpreter).
    """
    package = root / "package.json"
    if package.is_file():
        with contextlib.suppress(ValueError, OSError):
            if json.loads(package.read_text(encoding="utf-8")).get("scripts", {}).get("test"):
                return "npm test"
    python_markers = ("pyproject.toml", "setup.cfg", "pytest.ini", "tox.ini", "setup.py")
    if any((root / m).is_file() for m in python_markers) or (root / "tests").is_dir() or any(root.glob("test_*.py")):
        interpreter = python or workspace_python(root) or sys.executable
        return f"{shlex.quote(interpreter)} -m pytest -q"
    if (root / "go.mod").is_file():
        return "go test ./..."
    if (root / "Cargo.toml").is_file():
        return "cargo test"
    return None


def workspace_python(root: Path) -> str | None:
    """The interpreter of the workspace's ``.venv`` (or ``venv``), or ``None`` when it has none."""
    for candidate in (root / ".venv" / "bin" / "python", root / "venv" / "bin" / "python"):
        if candidate.is_file():
            return str(candidate)
    return None


def scrubbed_env(home: Path) -> dict[str, str]:
    """The test command's environment: :data:`KEPT_ENV` from ours, ``HOME`` and ``TMPDIR`` in a
    temporary folder, no byte-code files, no colours."""
    env = {key: os.environ[key] for key in KEPT_ENV if key in os.environ}
    env.update(HOME=str(home), TMPDIR=str(home), PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1", CI="true", TERM="dumb")
    return env


def summary_counts(output: str) -> tuple[int | None, int | None]:
    """(passed, failed) from the last line of ``output`` that reports either; errors add to failed."""
    for line in reversed(output.splitlines()):
        counts = _COUNT.findall(line)
        if counts:
            passed = sum(int(n) for n, word in counts if word == "passed")
            failed = sum(int(n) for n, word in counts if word != "passed")
            return passed, failed
    return None, None


async def run_tests(command: str, cwd: Path, *, timeout_s: float, output_cap_bytes: int) -> TestRun:
    """Run ``command`` (a shell command line, ``/bin/sh -c``) in ``cwd`` and return its :class:`TestRun`.

    Killed with its whole process group after ``timeout_s`` seconds (``timed_out = True``,
    ``exit_code = None``) or when the calling task is cancelled (then ``CancelledError`` propagates
    after the kill). Never raises for a failing or missing command: that is a failed run.
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="coding-director-test-home-") as home:
        process = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            cwd=cwd,
            env=scrubbed_env(Path(home)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        assert process.stdout is not None
        tail = bytearray()
        timed_out = False

        async def pump() -> None:
            assert process.stdout is not None
            while chunk := await process.stdout.read(65536):
                tail.extend(chunk)
                if len(tail) > output_cap_bytes:
                    del tail[: len(tail) - output_cap_bytes]
            await process.wait()

        try:
            async with asyncio.timeout(timeout_s):
                await pump()
        except TimeoutError:
            timed_out = True
        finally:
            # Also after a normal exit: whatever the tests left running in their group goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    output = tail.decode("utf-8", errors="replace")
    if timed_out:
        output += f"\n[coding-director: the test command was killed after {timeout_s:g} s]\n"
    passed, failed = summary_counts(output)
    return TestRun(
        command=command,
        exit_code=None if timed_out else process.returncode,
        passed=passed,
        failed=failed,
        timed_out=timed_out,
        output=output,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
    )
