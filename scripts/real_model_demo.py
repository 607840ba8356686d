"""The demo of ``./scripts/real-model-demo`` (that script installs the model first; see it).

With the real model (Gemma 3 270M, base, on llama.cpp's OpenAI-compatible server) behind every
tier, on real code downloaded from registries into a temp folder (``requests`` from PyPI, ``rxjs``
from npm), it runs and records:

1. ``coding-director doctor``;
2. ``coding-director ask --json`` on the seed's two prompts;
3. ``coding-director ask --json --file F --line N`` on a real Python and a real TypeScript function;
4. an LSP session over stdio (``coding-director serve`` driven by pytest-lsp's client, as VS Code
   would drive it): inline completions in real files, a Fix (code action + resolve) on a real
   function with a typo, and an Explain (the code action's command, run as ``codingDirector/chat``);
5. a summary of what the model answered and which tiers were used; then ``bench/report``.

The transcript is also written to ``test-output/real-model/demo.md``. Exit code 0 when every step
ran (whether or not the small model's answers were accepted: rejections and escalations are
expected and shown); 1 when a step could not run.

Options: ``--no-bench`` skips ``bench/report``; ``--quick`` runs it with fewer samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

from _lsp_client import complete, open_doc, start_server  # noqa: E402
from _real_model import config_toml, llama_server  # noqa: E402
from coding_director.lsp.convert import to_plain  # noqa: E402
from demo import PROMPTS, print_assistance  # noqa: E402
from demo import cli as demo_cli  # noqa: E402
from lsprotocol import types  # noqa: E402
from real_model_bench import completion_cursors  # noqa: E402

REQUESTS = "requests==2.32.3"
RXJS = "rxjs@7.8.2"
OUT = ROOT / "test-output" / "real-model"


@dataclass
class Step:
    """One recorded step for the summary: what ran, how it was routed, the attempts
    (``tier: outcome``), the final tier and the first line of what the model answered."""

    name: str
    route: str = ""
    attempts: list[str] = field(default_factory=list)
    final: str = ""
    answer: str = ""
    ok: bool = True


STEPS: list[Step] = []


class Tee(io.TextIOBase):
    """stdout that is also kept for the transcript file."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.kept: list[str] = []

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.stream.flush()
        self.kept.append(text)
        return len(text)


def heading(text: str) -> None:
    print(f"\n== {text}")


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:100]
    return "(empty)"


def record(name: str, result: dict[str, Any]) -> None:
    """Add an ``Assistance`` (wire shape) to the summary."""
    route = result["route"]
    STEPS.append(
        Step(
            name=name,
            route=f"{route['domain']}/{route['intent']} by {route['decidedBy']}",
            attempts=[f"{a['tier']}: {a['outcome']}" for a in result["attempts"]],
            final=result["finalTier"] or "-",
            answer=first_line(result["answer"])
            if result["accepted"]
            else "(no accepted answer) " + first_line(result["answer"]),
        )
    )


def cli(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    """``coding-director ARGS --config CONFIG`` without the caller's ``CODING_DIRECTOR_*``/``OLLAMA_*``
    variables (the config file alone decides), via :func:`demo.cli`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
    return demo_cli(*args, "--config", str(config), env=env)


# -- real code ----------------------------------------------------------------------------------


def fetch_real_code(folder: Path) -> tuple[Path, Path]:
    """Download ``requests`` (PyPI wheel) and ``rxjs`` (npm tarball, ships its TypeScript sources)
    into ``folder``; return the two package roots. Raises ``subprocess.CalledProcessError``."""
    pypi = folder / "pypi"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", REQUESTS, "--no-deps", "--only-binary=:all:", "-d", str(pypi),
         "--quiet", "--disable-pip-version-check"],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (wheel,) = pypi.glob("requests-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(pypi)
    npm = folder / "npm"
    npm.mkdir()
    packed = subprocess.run(
        ["npm", "pack", RXJS, "--silent", "--pack-destination", str(npm)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    with tarfile.open(npm / packed.stdout.strip().splitlines()[-1]) as archive:
        archive.extractall(npm, filter="data")
    return pypi / "requests", npm / "package"


def read(path: Path) -> str:
    """The UTF-8 text of a small local file (a plain function: the demo's event loop has nothing
    else to do meanwhile)."""
    return path.read_text(encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    """The 0-based index of the first line of ``path`` containing ``needle``. Raises ``ValueError``."""
    for index, text in enumerate(read(path).splitlines()):
        if needle in text:
            return index
    raise ValueError(f"{needle!r} not in {path}")


# -- CLI steps ----------------------------------------------------------------------------------


def ask(name: str, config: Path, prompt: str, *extra: str) -> bool:
    heading(f"coding-director ask --json {' '.join(extra)} {prompt!r}".replace("  ", " "))
    started = time.perf_counter()
    proc = cli("ask", "--json", *extra, prompt, config=config)
    if proc.returncode not in (0, 1):
        print(proc.stderr.rstrip())
        STEPS.append(Step(name=name, answer=first_line(proc.stderr), ok=False))
        return False
    result = json.loads(proc.stdout)
    print_assistance(result, answer_lines=25)
    print(f"({time.perf_counter() - started:.1f} s including the CLI's start)")
    record(name, result)
    return True


# -- LSP session --------------------------------------------------------------------------------


async def lsp_session(base_url: str, requests_dir: Path, rxjs_dir: Path) -> bool:
    """Completions, a Fix and an Explain over stdio; returns whether every request got an answer
    (an error response that explains why no tier's fix was usable counts as an answer)."""
    events: list[dict[str, Any]] = []
    client = await start_server(config_toml(base_url), ignore=("codingDirector/status",))

    def on_chat_event(ls: Any, params: Any) -> None:  # pygls passes the client when a parameter is named `ls`
        events.append(to_plain(params))

    client.feature("codingDirector/chatEvent")(on_chat_event)
    ok = True
    try:
        ok &= await completions(client, [requests_dir / "models.py", rxjs_dir / "src/internal/Subscriber.ts"])
        ok &= await fix(client, requests_dir / "sessions.py")
        ok &= await explain(client, requests_dir / "utils.py", events)
    finally:
        await client.shutdown_session()
        await client.stop()
    return ok


def language_id(path: Path) -> str:
    return {".py": "python", ".ts": "typescript"}[path.suffix]


async def completions(client: Any, files: list[Path]) -> bool:
    heading("LSP textDocument/inlineCompletion in real files (the model continues the line at ▌)")
    answered = 0
    tried = 0
    for path, cursors in zip(files, completion_cursors(files, per_file=3), strict=True):
        text = read(path)
        open_doc(client, path.as_uri(), text, language_id(path))
        lines = text.splitlines()
        for cursor in cursors:
            tried += 1
            started = time.perf_counter()
            result = await complete(client, path.as_uri(), cursor.line, cursor.character)
            elapsed = (time.perf_counter() - started) * 1000
            shown = result.items[0].insert_text if result and result.items else None
            before = lines[cursor.line][: cursor.character].strip()
            where = f"{path.parent.name}/{path.name}:{cursor.line + 1}"
            if isinstance(shown, str) and shown:
                answered += 1
                print(f"  {where:<28} {before}▌{shown.splitlines()[0]!s}   ({elapsed:.0f} ms)")
            else:
                print(f"  {where:<28} {before}▌ (no completion: nothing usable)   ({elapsed:.0f} ms)")
    STEPS.append(
        Step(name="LSP inline completions", route="completion tier lead", final="lead",
             answer=f"{answered} of {tried} requests got a completion")
    )  # fmt: skip
    return True


async def list_actions(client: Any, uri: str, line: int, diagnostics: list[types.Diagnostic]) -> list[Any]:
    position = types.Position(line=line, character=4)
    return list(
        await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=position, end=position),
                context=types.CodeActionContext(diagnostics=diagnostics),
            )
        )
        or []
    )


async def fix(client: Any, path: Path) -> bool:
    """Fix ``merge_setting`` of requests/sessions.py after a typo (the ``:`` of its ``def`` line
    deleted), with the diagnostic an editor's Python language server would report."""
    line = line_of(path, "def merge_setting(")
    lines = read(path).splitlines(keepends=True)
    def_end = line
    while not lines[def_end].rstrip().endswith("):"):
        def_end += 1
    broken_line = lines[def_end].rstrip()[:-1] + "\n"  # "...):" -> "...)"
    lines[def_end] = broken_line
    uri = path.with_name("sessions_typo.py").as_uri()
    open_doc(client, uri, "".join(lines), "python")
    heading(f"LSP Fix with Coding Director: requests/sessions.py merge_setting, ':' deleted on line {def_end + 1}")
    print(f"  the line now reads: {broken_line.rstrip()!r}")
    column = len(broken_line.rstrip())
    diagnostic = types.Diagnostic(
        range=types.Range(
            start=types.Position(line=def_end, character=column - 1), end=types.Position(line=def_end, character=column)
        ),
        message="Expected ':'",
        severity=types.DiagnosticSeverity.Error,
        source="Pylance",
    )
    actions = await list_actions(client, uri, def_end, [diagnostic])
    print("  code actions offered:", ", ".join(f"{a.title} ({getattr(a, 'kind', '')})" for a in actions))
    fix_action = next(a for a in actions if isinstance(a, types.CodeAction) and a.title.startswith("Fix"))
    before = set(client.progress_reports)
    started = time.perf_counter()
    try:
        resolved = await client.code_action_resolve_async(fix_action)
        error = None
    except Exception as exc:  # the server answers an error when no tier's fix was usable
        resolved, error = None, str(exc)
    elapsed = time.perf_counter() - started
    for token in set(client.progress_reports) - before:
        for report in client.progress_reports[token]:
            message = getattr(report, "message", None) or getattr(report, "title", None)
            if message:
                print(f"  progress: {message}")
    step = Step(name="LSP Fix (merge_setting, missing ':')", route="general/fix (forced by the action)")
    if resolved is not None and resolved.edit and resolved.edit.document_changes:
        change = resolved.edit.document_changes[0]
        edit = change.edits[0]
        print(f"  WorkspaceEdit for version {change.text_document.version}, lines {edit.range.start.line + 1}-"
              f"{edit.range.end.line}; new text:")  # fmt: skip
        print("\n".join("    " + line for line in edit.new_text.splitlines()[:20]))
        repaired = edit.new_text.splitlines()[def_end - edit.range.start.line].rstrip() if edit.new_text else ""
        step.answer = f"edit accepted; the def line now ends {repaired[-20:]!r}"
        step.final = "(see progress)"
    else:
        print(f"  no edit: {error}")
        step.answer = f"no usable fix: {(error or '')[:160]}"
    print(f"  ({elapsed:.1f} s)")
    STEPS.append(step)
    return True


async def explain(client: Any, path: Path, events: list[dict[str, Any]]) -> bool:
    """Explain ``requote_uri`` of requests/utils.py through its code action's chat command."""
    line = line_of(path, "def requote_uri(")
    uri = path.as_uri()
    open_doc(client, uri, read(path), "python")
    heading(f"LSP Explain with Coding Director: requests/utils.py requote_uri (line {line + 1})")
    actions = await list_actions(client, uri, line + 1, [])
    explain_action = next(a for a in actions if a.title.startswith("Explain"))
    command = explain_action.command if isinstance(explain_action, types.CodeAction) else explain_action
    assert command is not None
    params = {**to_plain(command.arguments[0]), "chatId": str(uuid.uuid4())}
    print(f"  the action's command: {command.command} -> codingDirector/chat intent={params.get('intent')}")
    started = time.perf_counter()
    events.clear()
    result = to_plain(await client.protocol.send_request_async("codingDirector/chat", params))
    elapsed = time.perf_counter() - started
    streamed = sum(1 for e in events if e["kind"] == "text")
    for e in events:
        if e["kind"] == "attemptStarted":
            print(f"  event: {e['tier']} ({e['model']}) starts")
        elif e["kind"] == "attemptFinished":
            a = e["attempt"]
            print(f"  event: {a['tier']} {a['outcome']} {('- ' + a['reason']) if a.get('reason') else ''}")
    print(f"  {streamed} text events streamed; {elapsed:.1f} s")
    print_assistance(result, answer_lines=20)
    record("LSP Explain (requote_uri)", result)
    return True


# -- main ---------------------------------------------------------------------------------------


def summary() -> None:
    heading("Summary: what the real model answered, and which tiers were used")
    for step in STEPS:
        mark = "" if step.ok else "  [STEP FAILED]"
        print(f"- {step.name}{mark}")
        if step.route:
            print(f"    route:    {step.route}")
        if step.attempts:
            print(f"    tiers:    {', '.join(step.attempts)}  -> final: {step.final}")
        print(f"    answered: {step.answer}")


def main() -> int:
    bench = "--no-bench" not in sys.argv
    tee = Tee(sys.stdout)
    sys.stdout = tee
    failures = 0
    try:
        with contextlib.ExitStack() as stack:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="coding-director-demo-")))
            heading("Real code: requests from PyPI, rxjs (TypeScript sources) from npm, into a temp folder")
            requests_dir, rxjs_dir = fetch_real_code(folder)
            print(f"  {REQUESTS}: {requests_dir}")
            print(f"  {RXJS}: {rxjs_dir}")
            heading("Starting llama.cpp's OpenAI-compatible server with Gemma 3 270M (base model, CPU)")
            server = stack.enter_context(llama_server(OUT))
            print(f"  {server.base_url} serving {server.model!r}; log: {server.log.relative_to(ROOT)}")
            config = folder / "coding-director.toml"
            config.write_text(config_toml(server.base_url), encoding="utf-8")
            print(f"  every tier -> {server.model} (lead t=0.2, senior t=0.6, principal t=0.9); config: {config}")
            print("  The model is small and not instruction-tuned: expect rejections and escalations.")

            heading("coding-director doctor")
            doctor = cli("doctor", config=config)
            print(doctor.stdout.rstrip() or doctor.stderr.rstrip())
            failures += doctor.returncode not in (0, 1)
            for prompt in PROMPTS:
                failures += not ask(f"ask {prompt!r}", config, prompt)
            sessions = requests_dir / "sessions.py"
            line = line_of(sessions, "def merge_setting(") + 1
            failures += not ask(
                "ask --file requests/sessions.py (merge_setting)",
                config, "Explain what this function does.", "--file", str(sessions), "--line", str(line + 5),
            )  # fmt: skip
            operators = rxjs_dir / "src/internal/operators/map.ts"
            line = line_of(operators, "export function map<") + 1
            failures += not ask(
                "ask --file rxjs map.ts (map)",
                config, "Add a doc comment to this function.", "--file", str(operators), "--line", str(line),
            )  # fmt: skip
            failures += not asyncio.run(lsp_session(server.base_url, requests_dir, rxjs_dir))
            summary()
            if bench:
                heading("bench/report (every benchmark; the real-model rows use the server above)")
                args = ["--base-url", server.base_url, *(["--quick"] if "--quick" in sys.argv else [])]
                report = subprocess.run([sys.executable, str(ROOT / "bench/report.py"), *args], cwd=ROOT, text=True,
                                        capture_output=True, timeout=7200)  # fmt: skip
                print(report.stdout.rstrip())
                if report.returncode != 0:
                    print(report.stderr.rstrip())
                    failures += 1
    finally:
        sys.stdout = tee.stream
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "demo.md").write_text("".join(tee.kept), encoding="utf-8")
    print(f"\n(transcript: {(OUT / 'demo.md').relative_to(ROOT)})")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
