"""The team memory through the command line, against the Ollama emulator (issue 12's acceptance)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.emulator import OllamaEmulator, ScriptedModel, ScriptRequest
from tests.helpers import BAD_PY, GOOD_PY, add_team
from tests.test_cli import config, run

ADD = "Write a Python function that adds two numbers."


def _chat_calls(emu: OllamaEmulator) -> int:
    return len(emu.calls(path="/api/chat"))


def test_escalation_appears_in_stats_and_as_one_dpo_pair(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead=BAD_PY)
    cfg = str(config(tmp_path, ollama_emulator.url))
    asked = run("ask", "--config", cfg, "--json", ADD)
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["requestId"]

    proc = run("stats", "--config", cfg, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    tiers = {t["tier"]: t for t in report["tiers"]}
    lead, senior = tiers["lead"], tiers["senior"]
    assert lead["attempts"] == 1 and lead["outcomes"] == {"rejected": 1}
    assert any("does not parse" in reason for reason in lead["reasons"]), lead["reasons"]
    assert senior["attempts"] == 1 and senior["outcomes"] == {"accepted": 1} and senior["acceptanceRate"] == 1.0
    assert report["bySource"] == {"cli": 1}
    assert report["routes"] == [{"route": "general/generate", "requests": 1, "escalated": 1, "escalationRate": 1.0}]

    out = tmp_path / "dpo.jsonl"
    proc = run("export", "--config", cfg, "--format", "dpo", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 1
    assert lines[0] == {"prompt": ADD, "chosen": GOOD_PY, "rejected": BAD_PY}

    sft = tmp_path / "sft.jsonl"
    run("export", "--config", cfg, "--format", "sft", "--output", str(sft))
    (line,) = [json.loads(x) for x in sft.read_text(encoding="utf-8").splitlines()]
    assert line == {"messages": [{"role": "user", "content": ADD}, {"role": "assistant", "content": GOOD_PY}]}


def test_same_question_is_served_from_cache_until_marked_unhelpful(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(ollama_emulator)
    cfg = str(config(tmp_path, ollama_emulator.url))
    first = run("ask", "--config", cfg, "--json", ADD)
    assert first.returncode == 0, first.stderr
    assert not json.loads(first.stdout)["cached"]
    calls = _chat_calls(ollama_emulator)
    assert calls == 1

    second = run("ask", "--config", cfg, "--json", "  write a python function that adds two numbers. ")
    assert second.returncode == 0, second.stderr
    result = json.loads(second.stdout)
    assert result["cached"] is True and result["answer"] == GOOD_PY and result["attempts"] == []
    assert "served from the cache" in second.stderr
    assert _chat_calls(ollama_emulator) == calls  # the emulator saw no model call

    bypass = run("ask", "--config", cfg, "--json", "--no-cache", ADD)
    assert not json.loads(bypass.stdout)["cached"] and _chat_calls(ollama_emulator) == calls + 1

    marked = run("feedback", "--config", cfg, result["requestId"], "unhelpful")
    assert marked.returncode == 0, marked.stderr
    third = run("ask", "--config", cfg, "--json", ADD)
    assert not json.loads(third.stdout)["cached"]
    assert _chat_calls(ollama_emulator) == calls + 2


def test_cache_is_keyed_by_context_and_model_settings(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead="It adds numbers.")
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    cfg = str(config(tmp_path, ollama_emulator.url))
    ask = ("ask", "--config", cfg, "--json", "--file", str(source), "--line", "2", "Explain this function")
    assert not json.loads(run(*ask).stdout)["cached"]
    assert json.loads(run(*ask).stdout)["cached"]
    source.write_text("def add(a, b):\n    return b + a\n", encoding="utf-8")
    assert not json.loads(run(*ask).stdout)["cached"]  # other context
    (tmp_path / "other").mkdir()
    other = str(config(tmp_path / "other", ollama_emulator.url, extra='general_chain = ["senior", "principal"]\n'))
    assert not json.loads(run("ask", "--config", other, *ask[3:]).stdout)["cached"]  # other tier chain


def test_store_text_false_keeps_no_text_and_caches_nothing(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator)
    cfg = str(config(tmp_path, ollama_emulator.url, extra="[memory]\nstore_text = false\n"))
    run("ask", "--config", cfg, ADD)
    assert not json.loads(run("ask", "--config", cfg, "--json", ADD).stdout)["cached"]
    sft = tmp_path / "sft.jsonl"
    run("export", "--config", cfg, "--format", "sft", "--output", str(sft))
    assert sft.read_text(encoding="utf-8") == ""
    assert json.loads(run("stats", "--config", cfg, "--json").stdout)["requests"] == 2


def test_forget_and_disabled_memory(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator)
    cfg = str(config(tmp_path, ollama_emulator.url))
    run("ask", "--config", cfg, ADD, cwd=tmp_path)
    proc = run("forget", "--config", cfg, "--workspace", str(tmp_path))
    assert proc.returncode == 0 and "forgot 1 requests" in proc.stderr
    assert json.loads(run("stats", "--config", cfg, "--json").stdout)["requests"] == 0
    off = str(config(tmp_path, ollama_emulator.url, extra="[memory]\nenabled = false\n"))
    assert run("ask", "--config", off, ADD).returncode == 0
    assert run("stats", "--config", off).returncode == 4


def test_corrupt_memory_gives_one_message_and_ask_still_answers(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(ollama_emulator)
    db = tmp_path / "memory.sqlite3"
    db.write_bytes(b"garbage" * 4096)
    cfg = str(config(tmp_path, ollama_emulator.url, extra=f'[memory]\npath = "{db}"\n'))
    proc = run("ask", "--config", cfg, ADD)
    assert proc.returncode == 0 and "def add(a, b):" in proc.stdout
    warnings = [line for line in proc.stderr.splitlines() if "memory database" in line]
    assert len(warnings) == 1 and "corrupt" in warnings[0] and "continuing without memory" in warnings[0]
    assert "Traceback" not in proc.stderr


def test_kill_9_mid_request_loses_only_that_request(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator)
    ollama_emulator.add_model(ScriptedModel(name="slow-m:latest", reply="tick " * 400, chunk_delay_ms=50))
    cfg = str(config(tmp_path, ollama_emulator.url))
    assert run("ask", "--config", cfg, ADD).returncode == 0
    (tmp_path / "slow").mkdir()
    slow = str(
        config(
            tmp_path / "slow",
            ollama_emulator.url,
            extra='general_chain = ["slow"]\n[tiers.slow]\nmodel = "slow-m:latest"\n',
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "coding_director", "ask", "--config", slow, "Explain recursion"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not ollama_emulator.calls(path="/api/chat", model="slow-m:latest"):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(0.3)  # streaming now
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -9
    report = json.loads(run("stats", "--config", cfg, "--json").stdout)  # the database opens cleanly
    assert report["requests"] == 1 and report["bySource"] == {"cli": 1}


def test_paraphrase_is_a_semantic_hit_but_not_for_code_changing_intents(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(ollama_emulator, lead="Use reversed(xs) or xs[::-1].")
    cfg = str(config(tmp_path, ollama_emulator.url))
    assert not json.loads(run("ask", "--config", cfg, "--json", "How do I reverse a list in Python?").stdout)["cached"]
    again = json.loads(run("ask", "--config", cfg, "--json", "How can I reverse a list in Python?").stdout)
    assert again["cached"] and again["answer"] == "Use reversed(xs) or xs[::-1]."
    calls = _chat_calls(ollama_emulator)
    run("ask", "--config", cfg, "--json", "Write a Python function that reverses a list.")
    other = json.loads(run("ask", "--config", cfg, "--json", "Write a Python function which reverses a list.").stdout)
    assert not other["cached"] and _chat_calls(ollama_emulator) > calls + 1  # generate: exact hits only


def test_prompts_differing_in_a_number_or_identifier_are_never_a_semantic_hit(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    """Regression: 50 concurrent "Explain recursion, request number N" chats got request 0's answer."""

    def numbered(request: ScriptRequest) -> str:
        found = re.search(r"request number (\d+)|(parse_args|parseArgs)", request.prompt)
        return "Answer for " + ((found.group(1) or found.group(2)) if found else "?")

    add_team(ollama_emulator, lead={"reply": numbered})
    cfg = str(config(tmp_path, ollama_emulator.url))
    first = json.loads(run("ask", "--config", cfg, "--json", "Explain recursion, request number 0").stdout)
    assert not first["cached"] and first["answer"] == "Answer for 0"
    other = json.loads(run("ask", "--config", cfg, "--json", "Explain recursion, request number 38").stdout)
    assert not other["cached"] and other["answer"] == "Answer for 38"
    snake = json.loads(run("ask", "--config", cfg, "--json", "What does parse_args return?").stdout)
    camel = json.loads(run("ask", "--config", cfg, "--json", "What does parseArgs return?").stdout)
    assert not camel["cached"]
    assert (snake["answer"], camel["answer"]) == ("Answer for parse_args", "Answer for parseArgs")
    paraphrase = json.loads(run("ask", "--config", cfg, "--json", "Explain recursion: request number 38").stdout)
    assert paraphrase["cached"] and paraphrase["answer"] == "Answer for 38"  # same literals: still a hit
