"""Tasks end to end: scripted role models on the emulator, real pytest runs in the scratch copy."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from coding_director.agents.edits import EditBlock, EditError, apply_edits, parse_edits
from coding_director.agents.scratch import Scratch, walk_files
from coding_director.agents.testrun import run_tests, summary_counts
from coding_director.agents.workflow import TaskRunner
from coding_director.engine import CodingDirector

from tests.emulator import OllamaEmulator, ScriptedModel, ScriptRequest
from tests.helpers import TIER_MODELS, alive, team_settings

CALC = "def add(a, b):\n    return a + b\n"
TEST_CALC = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"

PLAN = (
    '```json\n{"files": ["calc.py", "tests/test_calc.py"], "steps": ["add multiply to calc.py", '
    '"test it"], "test": "pytest"}\n```'
)
CODER_BUGGY = (
    "calc.py\n```python\n<<<<<<< SEARCH\n    return a + b\n=======\n    return a + b\n\n\n"
    "def multiply(a, b):\n    return a * b + 1\n>>>>>>> REPLACE\n```\n"
)
TESTER = (
    "tests/test_calc.py\n```python\n<<<<<<< SEARCH\nfrom calc import add\n=======\nfrom calc import add, multiply\n"
    ">>>>>>> REPLACE\n```\n\ntests/test_calc.py\n```python\n<<<<<<< SEARCH\n    assert add(2, 3) == 5\n=======\n"
    "    assert add(2, 3) == 5\n\n\ndef test_multiply():\n    assert multiply(3, 4) == 12\n>>>>>>> REPLACE\n```\n"
)
DEBUGGER = (
    "The multiply adds one.\n\ncalc.py\n```python\n<<<<<<< SEARCH\n    return a * b + 1\n=======\n"
    "    return a * b\n>>>>>>> REPLACE\n```\n"
)
CODER_GOOD = CODER_BUGGY.replace("a * b + 1", "a * b")
NO_MATCH = "calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a * b\n>>>>>>> REPLACE\n"
UNPARSABLE = "calc.py\n<<<<<<< SEARCH\n    return a + b\n=======\n    return (a + b\n>>>>>>> REPLACE\n"

Script = dict[str, list[str]]


def role_of(req: ScriptRequest) -> str:
    for role in ("planner", "coder", "tester", "debugger", "reviewer", "documenter"):
        if f"You are the {role}" in req.system:
            return role
    raise AssertionError(f"not a task role request: {req.system[:80]!r}")


def scripted_team(emu: OllamaEmulator, script: dict[str, dict[str, list[str]]]) -> None:
    """``script[tier][role]`` is the list of answers that tier gives that role, in order (the last
    one repeats). Tiers not named answer like the planner/reviewer/documenter defaults."""
    defaults = {"planner": [PLAN], "reviewer": ["```json\n[]\n```"], "documenter": ["NO CHANGES"]}
    for tier, model in TIER_MODELS.items():
        answers = {**defaults, **script.get(tier, {})}
        calls: dict[str, int] = {}

        def reply(req: ScriptRequest, answers: dict[str, list[str]] = answers, calls: dict[str, int] = calls) -> str:
            role = role_of(req)
            if role not in answers:
                return "I cannot help with that role."
            n = calls.get(role, 0)
            calls[role] = n + 1
            return answers[role][min(n, len(answers[role]) - 1)]

        emu.add_model(ScriptedModel(name=model, reply=reply))


def make_project(root: Path, git: bool) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(CALC, encoding="utf-8")
    (root / "tests" / "test_calc.py").write_text(TEST_CALC, encoding="utf-8")
    (root / ".gitignore").write_text("secret.txt\n", encoding="utf-8")
    (root / "secret.txt").write_text("not for the scratch copy\n", encoding="utf-8")
    if git:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@e",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@e",
        }
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
            subprocess.run(["git", *args], cwd=root, check=True, env=env)
    return root


def git_out(cwd: Path, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, input=stdin, text=True, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def prompts_to(emu: OllamaEmulator, tier: str, role: str) -> list[str]:
    bodies = [r.json for r in emu.calls(path="/api/chat", model=TIER_MODELS[tier])]
    return [b["messages"][-1]["content"] for b in bodies if f"You are the {role}" in b["messages"][0]["content"]]



def runner(emu: OllamaEmulator, **task: object) -> TaskRunner:
    settings = team_settings(emu.url, task={"test_timeout_s": 120, **task})
    return TaskRunner(CodingDirector(settings))


@pytest.mark.parametrize("git", [True, False], ids=["git-worktree", "copy"])
async def test_failing_patch_is_debugged_until_real_tests_pass(
    ollama_emulator: OllamaEmulator, tmp_path: Path, git: bool
) -> None:
    project = make_project(tmp_path / "project", git)
    before = tree_hashes(project)
    scripted_team(
        ollama_emulator, {"lead": {"coder": [CODER_BUGGY]}, "senior": {"tester": [TESTER], "debugger": [DEBUGGER]}}
    )
    result = await runner(ollama_emulator).run(project, "Add a multiply(a, b) function to calc.py with a test.")

    assert result.error is None, result.error
    first, last = result.test_runs[0], result.test_runs[-1]
    assert (first.exit_code, first.failed, first.passed) == (1, 1, 1), first.output
    assert "assert 13 == 12" in first.output  # the real pytest output
    assert (last.exit_code, last.failed, last.passed) == (0, 0, 2), last.output
    # the debugger saw that real output
    (debug_prompt,) = prompts_to(ollama_emulator, "senior", "debugger")
    assert "assert 13 == 12" in debug_prompt and "Exit code: 1" in debug_prompt
    roles = [(s.role, s.tier, s.outcome) for s in result.steps]
    assert roles == [
        ("planner", "principal", "accepted"),
        ("coder", "lead", "accepted"),
        ("tester", "senior", "accepted"),
        ("debugger", "senior", "accepted"),
        ("reviewer", "senior", "accepted"),
        ("documenter", "router", "accepted"),
    ]
    # not applied: the workspace is byte-identical, the secret (git-ignored) file never copied
    assert not result.applied
    assert tree_hashes(project) == before
    assert "secret.txt" not in result.patch
    # the patch applies to the untouched workspace and gives the tested code
    assert git_out(project, "apply", "--check", "-", stdin=result.patch) == ""
    git_out(project, "apply", "-", stdin=result.patch)
    assert "def multiply(a, b):\n    return a * b\n" in (project / "calc.py").read_text()
    if git:
        worktrees = git_out(project, "worktree", "list")
        assert len(worktrees.splitlines()) == 1, worktrees


async def test_without_a_usable_plan_the_task_goes_on_with_the_files_it_names(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    """Found on the built-in 135M model: it never writes the planner's JSON, and the task stopped there."""
    project = make_project(tmp_path / "project", git=False)
    no_plan = {"planner": ["Sure! First we add the function, then a test."]}
    script = {tier: dict(no_plan) for tier in TIER_MODELS}
    script["lead"]["coder"] = [CODER_GOOD]
    script["senior"]["tester"] = ["NO CHANGES"]
    scripted_team(ollama_emulator, script)
    result = await runner(ollama_emulator).run(project, "Add a multiply(a, b) function to calc.py.")
    assert result.error is None, result.error
    assert result.plan is not None and result.plan.files == ["calc.py"]
    planner = [s for s in result.steps if s.role == "planner"]
    assert planner and all(s.outcome == "rejected" and "JSON" in (s.reason or "") for s in planner)
    assert "def multiply(a, b):\n    return a * b\n" in result.patch.replace("+", "")
    assert result.tests is not None and result.tests.ok


async def test_without_a_usable_plan_and_no_file_named_the_task_stops_with_the_reasons(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "project", git=False)
    scripted_team(ollama_emulator, {tier: {"planner": ["no plan today"]} for tier in TIER_MODELS})
    result = await runner(ollama_emulator).run(project, "Add a multiply function.")
    assert result.error is not None and result.error.startswith("planner: no tier gave a usable answer (")
    assert "no JSON value found" in result.error and result.patch == ""
    assert {s.role for s in result.steps} == {"planner"}


async def test_the_planner_may_use_the_frontier_tier_and_gets_no_secrets(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    """Seed 003's cloud planner: ``[roles.planner] tier = "frontier"``; the frontier's request passes the
    outbound filter (an AWS key in a workspace file is redacted), the local roles work as before."""
    project = make_project(tmp_path / "project", git=False)
    key = "AKIAIOSFODNN7ABCDEFG"
    (project / "deploy.py").write_text(f'AWS_ACCESS_KEY_ID = "{key}"\n', encoding="utf-8")
    scripted_team(ollama_emulator, {"lead": {"coder": [CODER_GOOD]}, "senior": {"tester": [TESTER]}})
    frontier = "frontier-m:latest"
    ollama_emulator.add_model(ScriptedModel(name=frontier, reply=PLAN))
    settings = team_settings(
        ollama_emulator.url,
        tiers={"frontier": {"model": frontier, "provider": "openai", "base_url": f"{ollama_emulator.url}/v1"}},
        routing={"frontier": "fallback"},
        roles={"planner": {"tier": "frontier"}},
        placement={"ledger_path": str(tmp_path / "ledger.sqlite3"), "daily_budget_usd": 0.5,
                   "prices": {frontier: {"input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}}},
        task={"test_timeout_s": 120},
    )
    result = await TaskRunner(CodingDirector(settings)).run(project, "Add a multiply(a, b) function to calc.py.")
    assert result.error is None, result.error
    first = result.steps[0]
    assert (first.role, first.tier, first.outcome) == ("planner", "frontier", "accepted")
    (body,) = [r.json for r in ollama_emulator.calls(path="/v1/chat/completions", model=frontier)]
    sent = "".join(m["content"] for m in body["messages"])
    assert "You are the planner" in sent and "deploy.py" in sent and key not in sent
    assert not prompts_to(ollama_emulator, "principal", "planner")  # the local principal was not asked
    assert result.tests is not None and result.tests.ok


async def test_patch_that_does_not_apply_or_parse_is_rejected_and_the_next_tier_told_why(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "project", git=False)
    scripted_team(
        ollama_emulator,
        {
            "lead": {"coder": [NO_MATCH]},
            "senior": {"coder": [UNPARSABLE], "tester": ["NO CHANGES"]},
            "principal": {"coder": [CODER_GOOD]},
        },
    )
    result = await runner(ollama_emulator).run(project, "Add multiply to calc.py")
    coder = [s for s in result.steps if s.role == "coder"]
    assert [(s.tier, s.outcome) for s in coder] == [
        ("lead", "rejected"),
        ("senior", "rejected"),
        ("principal", "accepted"),
    ]
    assert coder[0].reason is not None and "SEARCH text does not occur in calc.py" in coder[0].reason
    assert coder[1].reason is not None and "calc.py does not parse after the edit" in coder[1].reason
    (senior_prompt,) = prompts_to(ollama_emulator, "senior", "coder")
    assert "SEARCH text does not occur in calc.py" in senior_prompt
    (principal_prompt,) = prompts_to(ollama_emulator, "principal", "coder")
    assert "does not parse after the edit" in principal_prompt
    assert result.tests is not None and result.tests.ok


async def test_a_blocking_review_finding_sends_the_coder_back_once(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "project", git=True)
    blocking = '```json\n[{"severity": "blocking", "file": "calc.py", "message": "multiply lacks a docstring"}]\n```'
    second = (
        "calc.py\n<<<<<<< SEARCH\ndef multiply(a, b):\n    return a * b\n=======\ndef multiply(a, b):\n"
        '    """a times b."""\n    return a * b\n>>>>>>> REPLACE\n'
    )
    scripted_team(
        ollama_emulator,
        {"lead": {"coder": [CODER_GOOD, second]}, "senior": {"tester": ["NO CHANGES"], "reviewer": [blocking, "[]"]}},
    )
    result = await runner(ollama_emulator).run(project, "Add multiply to calc.py")
    assert result.error is None, result.error
    assert [s.role for s in result.steps if s.role in ("coder", "reviewer")] == ["coder", "reviewer", "coder"]
    assert [f.severity for f in result.review] == ["blocking"]
    back = prompts_to(ollama_emulator, "lead", "coder")
    assert len(back) == 2 and "multiply lacks a docstring" in back[1]
    assert '"""a times b."""' in result.patch
    assert len(result.test_runs) == 2 and result.tests is not None and result.tests.ok


async def test_a_hanging_test_command_is_killed_at_its_timeout(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", git=False)
    pid_file = tmp_path / "child.pid"
    scripted_team(ollama_emulator, {"lead": {"coder": [CODER_GOOD]}, "senior": {"tester": ["NO CHANGES"]}})
    hang = f"sleep 300 & echo $! > {pid_file}; wait"
    result = await runner(ollama_emulator, test_timeout_s=1.5, max_debug_rounds=0).run(
        project, "Add multiply", test_command=hang
    )
    assert result.tests is not None
    assert result.tests.timed_out and result.tests.exit_code is None
    assert "killed after 1.5 s" in result.tests.output
    assert not alive(int(pid_file.read_text()))  # the command's child died with its process group


async def test_apply_writes_the_tested_change_into_the_workspace(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "project", git=True)
    scripted_team(ollama_emulator, {"lead": {"coder": [CODER_GOOD]}, "senior": {"tester": [TESTER]}})
    result = await runner(ollama_emulator).run(project, "Add multiply", apply=True)
    assert result.applied and result.error is None
    assert "def multiply" in (project / "calc.py").read_text()
    assert "test_multiply" in (project / "tests" / "test_calc.py").read_text()


async def test_apply_refuses_when_the_tests_still_fail(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", git=False)
    before = tree_hashes(project)
    scripted_team(
        ollama_emulator,
        {"lead": {"coder": [CODER_BUGGY]}, "senior": {"tester": [TESTER], "debugger": ["```python\nprint(1)\n```"]}},
    )
    result = await runner(ollama_emulator, max_debug_rounds=1).run(project, "Add multiply", apply=True)
    assert not result.applied
    assert result.error is not None
    assert tree_hashes(project) == before


def test_cli_task_json_shape_and_untouched_workspace(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", git=True)
    before = tree_hashes(project)
    scripted_team(ollama_emulator, {"lead": {"coder": [CODER_GOOD]}, "senior": {"tester": [TESTER]}})
    tiers = "".join(f'[tiers.{tier}]\nmodel = "{model}"\n' for tier, model in TIER_MODELS.items())
    config = tmp_path / "cd.toml"
    config.write_text(
        f'[ollama]\nhost = "{ollama_emulator.url}"\n{tiers}[routing]\nrouter = "offline"\n', encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "coding_director",
            "task",
            "--config",
            str(config),
            "--workspace",
            str(project),
            "--json",
            "Add multiply",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) >= {"plan", "steps", "patch", "tests", "review", "applied"}
    assert set(result["tests"]) >= {"command", "exitCode", "passed", "failed", "output"}
    assert set(result["steps"][0]) >= {"role", "tier", "model", "outcome", "reason", "latencyMs"}
    assert result["tests"]["passed"] == 2 and result["applied"] is False
    assert result["patch"].startswith("--- a/calc.py")
    assert tree_hashes(project) == before
    assert "planner (principal) is working" in proc.stderr
    # Each role's request is in the team memory with source "task" (issue 12): as many as its steps.
    stats = subprocess.run(
        [sys.executable, "-m", "coding_director", "stats", "--config", str(config), "--json"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert stats.returncode == 0, stats.stderr
    report = json.loads(stats.stdout)
    assert report["bySource"] == {"task": len(result["steps"])}
    assert report["routerDecisions"] == {"task": {"caller": len(result["steps"])}}
    planned = {t["tier"]: t["outcomes"] for t in report["tiers"]}
    assert planned["principal"] == {"accepted": 1} and planned["lead"] == {"accepted": 1}


# -- the parts ------------------------------------------------------------------------------------
def test_edit_blocks_parse_inside_and_outside_fences() -> None:
    answer = (
        "Here:\n`calc.py`\n```python\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```\n"
        "new.py\n<<<<<<< SEARCH\n=======\ny = 3\n>>>>>>> REPLACE\n"
    )
    assert parse_edits(answer) == [EditBlock("calc.py", "x = 1\n", "x = 2\n"), EditBlock("new.py", "", "y = 3\n")]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "no file path"),
        ("a.py\n<<<<<<< SEARCH\nx\n", "no '======='"),
        ("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n", "no '>>>>>>> REPLACE'"),
        ("../etc/passwd\n<<<<<<< SEARCH\n=======\ny\n>>>>>>> REPLACE\n", "relative to the workspace root"),
        ("/etc/passwd\n<<<<<<< SEARCH\n=======\ny\n>>>>>>> REPLACE\n", "relative to the workspace root"),
    ],
)
def test_malformed_edit_blocks_say_why(answer: str, message: str) -> None:
    with pytest.raises(EditError, match=message):
        parse_edits(answer)


def test_apply_edits_needs_exactly_one_match() -> None:
    files = {"a.py": "x = 1\nx = 1\n", "b.py": "y = 1\n"}
    read: Callable[[str], str | None] = files.get
    with pytest.raises(EditError, match=r"occurs 2 times in a\.py"):
        apply_edits([EditBlock("a.py", "x = 1\n", "x = 2\n")], read)
    with pytest.raises(EditError, match=r"does not occur in b\.py"):
        apply_edits([EditBlock("b.py", "z\n", "w\n")], read)
    with pytest.raises(EditError, match="already has content"):
        apply_edits([EditBlock("b.py", "", "w\n")], read)
    # later blocks see earlier ones
    assert apply_edits([EditBlock("b.py", "y = 1\n", "y = 2\n"), EditBlock("b.py", "y = 2\n", "y = 3\n")], read) == {
        "b.py": "y = 3\n"
    }


def test_summary_counts_of_common_runners() -> None:
    assert summary_counts("....F\n1 failed, 4 passed in 0.1s\n") == (4, 1)
    assert summary_counts("test result: FAILED. 3 passed; 1 failed; 0 ignored\n") == (3, 1)
    assert summary_counts("Tests:       1 failed, 2 passed, 3 total\n") == (2, 1)
    assert summary_counts("1 passed, 2 errors in 0.3s\n") == (1, 2)
    assert summary_counts("ok  \texample.com/m\t0.01s\n") == (None, None)


async def test_test_env_is_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    run = await run_tests("env", tmp_path, timeout_s=30, output_cap_bytes=65536)
    assert run.exit_code == 0
    assert "sk-very-secret" not in run.output and "PATH=" in run.output


async def test_output_is_capped_to_its_tail(tmp_path: Path) -> None:
    run = await run_tests("seq 1 100000", tmp_path, timeout_s=30, output_cap_bytes=2048)
    assert len(run.output.encode()) <= 2048 and run.output.rstrip().endswith("100000")


async def test_scratch_copy_keeps_crlf_and_uncommitted_changes(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", git=True)
    (project / "calc.py").write_bytes(b"def add(a, b):\r\n    return a + b\r\n")  # uncommitted, CRLF
    (project / "new_untracked.py").write_text("z = 1\n")
    async with await Scratch.create(project) as scratch:
        assert scratch.read("calc.py") == "def add(a, b):\r\n    return a + b\r\n"
        assert "new_untracked.py" in scratch.files and "secret.txt" not in scratch.files
        root = scratch.root
    assert not root.exists()


def test_walk_files_honours_gitignore(tmp_path: Path) -> None:
    make_project(tmp_path, git=False)
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.py").write_text("x")
    (tmp_path / ".gitignore").write_text("secret.txt\nbuild/\n")
    assert walk_files(tmp_path) == [".gitignore", "calc.py", "tests/test_calc.py"]


async def test_task_roles_are_placed_the_frontier_tier_answers_a_role_every_local_tier_failed(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    """Task roles follow ``routing.frontier`` like every request: with ``fallback`` the coder's chain
    ends with the frontier tier, which answers when lead, senior and principal all failed."""
    project = make_project(tmp_path / "project", git=False)
    scripted_team(ollama_emulator, {"lead": {"coder": [NO_MATCH]}, "senior": {"coder": [NO_MATCH], "tester": [TESTER]},
                                    "principal": {"coder": [NO_MATCH]}})  # fmt: skip
    frontier = "frontier-m:latest"
    ollama_emulator.add_model(ScriptedModel(name=frontier, reply=lambda req: CODER_GOOD if role_of(req) == "coder"
                                            else "I cannot help with that role."))  # fmt: skip
    settings = team_settings(
        ollama_emulator.url,
        tiers={"frontier": {"model": frontier, "provider": "openai", "base_url": f"{ollama_emulator.url}/v1"}},
        routing={"frontier": "fallback"},
        placement={"ledger_path": str(tmp_path / "ledger.sqlite3"), "daily_budget_usd": 0.5,
                   "prices": {frontier: {"input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}}},
        task={"test_timeout_s": 120},
    )  # fmt: skip
    result = await TaskRunner(CodingDirector(settings)).run(project, "Add a multiply(a, b) function to calc.py.")
    assert result.error is None, result.error
    coder = [(s.tier, s.outcome) for s in result.steps if s.role == "coder"]
    assert coder == [("lead", "rejected"), ("senior", "rejected"), ("principal", "rejected"), ("frontier", "accepted")]
    planner = [(s.tier, s.outcome) for s in result.steps if s.role == "planner"]
    assert planner == [("principal", "accepted")]  # a role a local tier answers never reaches the frontier
    assert result.tests is not None and result.tests.ok
