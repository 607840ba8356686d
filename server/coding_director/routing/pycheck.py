"""Checks beyond parsing for Python answers: undefined names (ruff's pyflakes rules) and imports that
do not resolve in the workspace's interpreter. The answer's own code is never executed.

What is checked, per answer (its ``python``/``py`` code blocks, and untagged blocks when the target
language is Python; the blocks are joined in order, so a usage example may use a function defined
in an earlier block):

1. **ruff** (``ruff check --isolated --select <rules> --output-format json --stdin-filename
   answer.py -``, the code on stdin, a subprocess under a timeout). The rules that reject are
   ``checks.reject_rules`` (default: F821 undefined name, F822 undefined name in ``__all__``, F823
   local referenced before assignment, F701/F702 ``break``/``continue`` outside a loop, F704
   ``yield`` outside a function, F706 ``return`` outside a function, F707 bare ``except`` not last);
   unused imports and variables never reject. An undefined name that the surrounding file binds at
   module level (``known_names``: a Fix of one function uses the file's imports and helpers) is
   not an error.
2. **imports** (``import a.b`` and ``from a.b import c`` at any depth, except those guarded by
   ``try: ... except ImportError``; relative imports are skipped). One subprocess of the
   workspace's interpreter (``python -I``) receives the module names on stdin and asks
   ``importlib.util.find_spec`` for each **top-level** module (this imports nothing). When that
   module is a library (under the interpreter's prefix or site-packages, not under the workspace),
   it also resolves the full dotted name (``find_spec("scipy.stats")`` imports the parent package
   ``scipy``: library code) and, for ``from X import c``, whether ``c`` is a submodule of ``X`` or
   an attribute of ``X`` once imported. Modules inside the workspace are only located, never
   imported: user code does not run. Results are cached per interpreter and search path (a module
   that did not resolve is asked again after :data:`IMPORT_MISS_TTL_S`).

The interpreter is the workspace's ``.venv`` when present, else ``checks.python_interpreter``, else
the server's own (:func:`python_environment`). A check that cannot run (ruff missing, timeout, an
interpreter that does not start) accepts the answer and logs why on stderr: it never blocks a
valid answer.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from coding_director.routing.verify import code_blocks, language_of_tag

_UNDEFINED_RE = re.compile(r"Undefined name `([^`]+)`")

_PROBE = r"""
import importlib, importlib.util, json, os, site, sys
req = json.load(sys.stdin)
sys.path[:0] = req["paths"]
libs = [os.path.realpath(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()}]
roots = [os.path.realpath(p) for p in req["user_roots"]]
def under(path, bases):
    return any(path == b or path.startswith(b + os.sep) for b in bases)
def is_user(spec):
    where = spec.origin if spec.origin not in (None, "built-in", "frozen") else None
    if where is None and spec.submodule_search_locations:
        where = list(spec.submodule_search_locations)[0]
    if not where:
        return False
    where = os.path.realpath(where)
    return under(where, roots) and not under(where, libs)
out = {}
for module, names in req["queries"]:
    key = module + "|" + ",".join(names)
    top = module.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
        if spec is None:
            out[key] = "no module named '%s'" % top
            continue
        if is_user(spec):
            out[key] = None
            continue
        if module != top and importlib.util.find_spec(module) is None:
            out[key] = "no module named '%s'" % module
            continue
        problem = None
        for name in names:
            try:
                if importlib.util.find_spec(module + "." + name) is not None:
                    continue
            except (ImportError, ValueError, AttributeError):
                pass
            if not hasattr(importlib.import_module(module), name):
                problem = "module '%s' has no attribute or submodule '%s'" % (module, name)
                break
        out[key] = problem
    except ModuleNotFoundError as exc:
        out[key] = "no module named '%s'" % (exc.name or module)
    except BaseException as exc:  # a library that fails to import: report, do not guess
        out[key] = "importing '%s' failed: %s: %s" % (module, type(exc).__name__, str(exc)[:120])
json.dump(out, sys.stdout)
"""

#: Per (interpreter, search paths): query key -> (problem or ``None`` when it resolves, monotonic time).
_IMPORT_CACHE: dict[tuple[str, tuple[str, ...]], dict[str, tuple[str | None, float]]] = {}
#: A module that did not resolve is asked again after this many seconds (the user may install it);
#: one that resolved stays cached for the life of the process.
IMPORT_MISS_TTL_S = 60.0

_BINDING_RES = (
    re.compile(r"^(?:async[ \t]+)?def[ \t]+(\w+)", re.MULTILINE),
    re.compile(r"^class[ \t]+(\w+)", re.MULTILINE),
    re.compile(r"^(\w+)[ \t]*(?::[^=\n]*)?=(?!=)", re.MULTILINE),
    re.compile(r"^for[ \t]+(\w+)", re.MULTILINE),
    re.compile(r"^global[ \t]+(\w+)", re.MULTILINE),
)


def module_level_names(code: str) -> set[str]:
    """Names that ``code`` (a Python file, possibly broken or cut) binds at module level: ``def``,
    ``class``, assignments at column 0 (``x = ...``, ``x: int = ...``, ``a, b = ...``), ``for``
    targets and imports. Uses the ``ast`` when the code parses, regular expressions otherwise."""
    names: set[str] = set()
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        tree = None
    if tree is not None:
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
            else:
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                        names.add(sub.id)
        return names
    for pattern in _BINDING_RES:
        names.update(pattern.findall(code))
    names.update(m.group(1) for m in re.finditer(r"^(\w+(?:[ \t]*,[ \t]*\w+)+)[ \t]*=", code, re.MULTILINE))
    for line in code.splitlines():
        if line.startswith(("import ", "from ")):
            names.update(import_bindings(line))
    return {n.strip() for name in names for n in name.split(",")}


def import_bindings(line: str) -> set[str]:
    """Names bound by one import statement line (``import a.b as c`` -> ``c``; ``import a.b`` ->
    ``a``; ``from x import (p, q as r)`` -> ``p``, ``r``)."""
    try:
        tree = ast.parse(line.strip())
    except (SyntaxError, ValueError):
        return set()
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
    return out


@dataclass(frozen=True, slots=True)
class ImportUse:
    """An import of an answer: ``module`` (dotted), ``names`` imported from it (empty for ``import
    module``), and the 1-based ``line`` in the joined code."""

    module: str
    names: tuple[str, ...]
    line: int

    @property
    def key(self) -> str:
        """The cache and probe key."""
        return self.module + "|" + ",".join(self.names)


def imports_of(code: str) -> list[ImportUse]:
    """The absolute imports of ``code`` that must resolve, in order (none when it does not parse).
    Imports inside a ``try`` whose handlers catch ``ImportError``/``ModuleNotFoundError`` (or
    everything) are optional and skipped; ``from x import *`` checks the module only."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            for stmt in node.body:
                guarded.update(id(sub) for sub in ast.walk(stmt))
    uses: list[ImportUse] = []
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            uses.extend(ImportUse(a.name, (), node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = tuple(a.name for a in node.names if a.name != "*")
            uses.append(ImportUse(node.module, names, node.lineno))
    return sorted(uses, key=lambda u: u.line)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(t, ast.Name) and t.id in {"ImportError", "ModuleNotFoundError", "Exception"} for t in types)


@dataclass(frozen=True)
class PythonEnvironment:
    """Where imports are resolved: ``interpreter`` (path of a Python executable), ``search_paths``
    put first on its ``sys.path`` (the document's folder, the workspace root, its ``src/``), and
    ``user_roots``, the folders whose modules are user code (located, never imported)."""

    interpreter: str
    search_paths: tuple[str, ...] = ()
    user_roots: tuple[str, ...] = ()


def python_environment(
    configured: str | None, workspace: Path | None = None, document: Path | None = None
) -> PythonEnvironment:
    """The environment of a request: the workspace is ``workspace``, else the nearest folder above
    ``document`` holding ``.venv``, ``pyproject.toml`` or ``.git``, else the current directory. The
    interpreter is ``<workspace>/.venv/bin/python`` (``Scripts/python.exe`` on Windows) when it
    exists, else ``configured`` (``checks.python_interpreter``), else :data:`sys.executable`."""
    root = workspace
    if root is None and document is not None:
        for folder in document.parents:
            if any((folder / marker).exists() for marker in (".venv", "pyproject.toml", ".git")):
                root = folder
                break
    if root is None:
        root = Path.cwd()
    venv = root / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    interpreter = str(venv) if venv.exists() else (configured or sys.executable)
    paths = [p for p in (document.parent if document else None, root, root / "src") if p is not None and p.is_dir()]
    search = tuple(dict.fromkeys(str(p) for p in paths))
    roots = tuple(dict.fromkeys(str(p) for p in (root, document.parent if document else None) if p is not None))
    return PythonEnvironment(interpreter, search, roots)


@dataclass(frozen=True)
class _Joined:
    code: str
    #: joined line (1-based) -> (block number, line in that block), both 1-based
    origin: list[tuple[int, int]]
    blocks: int


def _python_code(answer: str, language: str | None) -> _Joined | None:
    blocks = code_blocks(answer)
    chosen = [
        (i, b)
        for i, b in enumerate(blocks, start=1)
        if (language_of_tag(b.tag) if b.tag else language) == "python" and b.code.strip()
    ]
    if not chosen:
        return None
    lines: list[str] = []
    origin: list[tuple[int, int]] = []
    for index, block in chosen:
        for n, line in enumerate(block.code.splitlines(), start=1):
            lines.append(line)
            origin.append((index, n))
    return _Joined("\n".join(lines) + "\n", origin, len(blocks))


@dataclass
class PythonChecker:
    """The async check (``await checker(answer)`` -> reason or ``None``) of Python answers.

    ``language`` is the target language (untagged blocks count as Python when it is ``"python"``);
    ``known_names`` are bound by the surrounding file; ``reject_rules`` are ruff rule codes;
    timeouts in seconds. ``ruff`` is the ruff executable (default: the one of the ``ruff`` wheel).
    """

    environment: PythonEnvironment
    language: str | None = None
    known_names: frozenset[str] = frozenset()
    reject_rules: tuple[str, ...] = ("F821",)
    ruff_timeout_s: float = 10.0
    import_timeout_s: float = 15.0
    ruff: str | None = None
    notes: list[str] = field(default_factory=list)

    async def __call__(self, answer: str) -> str | None:
        joined = _python_code(answer, self.language)
        if joined is None:
            return None
        return await self.undefined_names(joined) or await self.unresolved_imports(joined)

    def _where(self, joined: _Joined, line: int) -> str:
        block, n = joined.origin[line - 1] if 0 < line <= len(joined.origin) else (1, line)
        return f"at line {n}" + (f" of code block {block}" if joined.blocks > 1 else "")

    def _note(self, text: str) -> None:
        self.notes.append(text)
        print(f"coding-director: python check skipped: {text}", file=sys.stderr)

    async def undefined_names(self, joined: _Joined) -> str | None:
        """Run ruff on the joined code; the first finding of a rejecting rule, as a reason."""
        ruff = self.ruff or _ruff_bin()
        if ruff is None:
            self._note("ruff is not installed")
            return None
        args = [ruff, "check", "--isolated", "--no-cache", "--select", ",".join(self.reject_rules)]
        args += ["--output-format", "json", "--stdin-filename", "answer.py", "--exit-zero", "-"]
        out = await _run(args, joined.code, self.ruff_timeout_s)
        if isinstance(out, str) and out.startswith("!"):
            self._note(f"ruff: {out[1:]}")
            return None
        try:
            findings = json.loads(out)
        except ValueError:
            self._note(f"ruff printed no JSON: {out[:200]!r}")
            return None
        rules = set(self.reject_rules)
        for item in sorted(findings, key=lambda f: (f["location"]["row"], f["location"]["column"])):
            code = item.get("code")
            if code not in rules:
                continue
            message = str(item.get("message", ""))
            where = self._where(joined, int(item["location"]["row"]))
            match = _UNDEFINED_RE.search(message)
            if match:
                if match.group(1) in self.known_names:
                    continue
                return f"undefined name {match.group(1)!r} ({code}) {where}"
            return f"{message[:1].lower()}{message[1:]} ({code}) {where}"
        return None

    async def unresolved_imports(self, joined: _Joined) -> str | None:
        """Resolve the joined code's imports in the environment's interpreter; the first that does
        not resolve, as a reason."""
        uses = imports_of(joined.code)
        if not uses:
            return None
        env = self.environment
        cache = _IMPORT_CACHE.setdefault((env.interpreter, env.search_paths), {})
        now = time.monotonic()

        def fresh(key: str) -> bool:
            entry = cache.get(key)
            return entry is not None and (entry[0] is None or now - entry[1] < IMPORT_MISS_TTL_S)

        missing = list(dict.fromkeys(u.key for u in uses if not fresh(u.key)))
        if missing:
            request = {
                "paths": list(env.search_paths),
                "user_roots": list(env.user_roots),
                "queries": [[key.split("|")[0], [n for n in key.split("|")[1].split(",") if n]] for key in missing],
            }
            out = await _run([env.interpreter, "-I", "-c", _PROBE], json.dumps(request), self.import_timeout_s)
            try:
                answers = json.loads(out) if not out.startswith("!") else None
            except ValueError:
                answers = None
            if not isinstance(answers, dict):
                self._note(f"import probe with {env.interpreter}: {out[1:] if out.startswith('!') else out[:200]}")
                return None
            cache.update({k: (str(v) if v is not None else None, now) for k, v in answers.items()})
        for use in uses:
            problem = cache.get(use.key, (None, now))[0]
            if problem:
                shown = use.module if not use.names else f"{use.module}.{_failing_name(use, problem)}"
                return (
                    f"import {shown!r} does not resolve: {problem} (in {env.interpreter}) "
                    f"{self._where(joined, use.line)}"
                )
        return None


def _failing_name(use: ImportUse, problem: str) -> str:
    for name in use.names:
        if f"'{name}'" in problem:
            return name
    return ",".join(use.names) if len(use.names) != 1 else use.names[0]


def _ruff_bin() -> str | None:
    try:
        from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]
    except ImportError:
        return None
    try:
        return str(find_ruff_bin())
    except FileNotFoundError:
        return None


async def _run(args: Iterable[str], stdin: str, timeout_s: float) -> str:
    """Run a command with ``stdin``; its stdout, or ``"!<why>"`` when it could not run in time."""
    argv = list(args)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return f"!cannot start {argv[0]}: {exc}"
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return f"!no answer within {timeout_s:g} s"
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        return f"!exit status {proc.returncode}: {err.decode(errors='replace').strip()[:200]}"
    return out.decode(errors="replace")
