"""The outbound filter (context/secrets.py): detect-secrets redaction, files withheld by pattern and
by .gitignore, CodeContext related code from withheld files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from coding_director.context import extract_from_file
from coding_director.context.models import RelatedSnippet
from coding_director.context.secrets import (
    ContextPart,
    OutboundFilter,
    find_secrets,
    is_indirect_reference,
    redact_secrets,
)
from coding_director.settings import DEFAULT_WITHHOLD
from hypothesis import given, settings
from hypothesis import strategies as st

AWS = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_" + "Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa"  # 36 characters after the prefix
KEY_BLOCK = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
             "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw\n-----END RSA PRIVATE KEY-----")


def test_redaction_replaces_whole_tokens_and_keeps_the_rest() -> None:
    text = f'aws = "{AWS}"\ntoken = "{GITHUB}"\nname = "settle"\n'
    redacted, counts = redact_secrets(text, "config.py")
    assert redacted == 'aws = "[REDACTED:AWS Access Key]"\ntoken = "[REDACTED:GitHub Token]"\nname = "settle"\n'
    assert counts == {"AWS Access Key": 1, "GitHub Token": 1}
    # detect-secrets reports only the prefix group of a GitHub token ("ghp"): the whole match goes.
    spans = {(s.type, s.start, s.end) for s in find_secrets(f"t = '{GITHUB}'", "a.py")}
    assert ("GitHub Token", 5, 45) in spans


def test_a_bearer_token_is_redacted_for_the_frontier_as_for_the_memory() -> None:
    """The memory's redaction had a Bearer pattern the outbound filter lacked; both use one scan now."""
    from coding_director.memory.redact import redact

    text = "curl -H 'Authorization: Bearer abcdefghijklmnop1234567890' https://api.example.com\n"
    redacted, counts = redact_secrets(text)
    assert redacted == "curl -H 'Authorization: Bearer [REDACTED:Bearer Token]' https://api.example.com\n"
    assert counts == {"Bearer Token": 1}
    assert redact(text) == "curl -H 'Authorization: Bearer [REDACTED:BearerToken]' https://api.example.com\n"
    assert redact(f'aws = "{AWS}"\n') == 'aws = "[REDACTED:AWSKey]"\n'


def test_a_private_key_is_redacted_from_begin_to_end() -> None:
    text = f'KEY = """{KEY_BLOCK}"""\nafter = 1\n'
    redacted, counts = redact_secrets(text, "keys.py")
    assert "MIIEow" not in redacted and "4lgOEe" not in redacted and counts == {"Private Key": 1}
    assert redacted.startswith('KEY = """[REDACTED:Private Key]') and redacted.endswith('"""\nafter = 1\n')
    assert redacted.count("\n") == text.count("\n")


def test_ordinary_code_and_prose_are_left_alone() -> None:
    code = Path(__file__).with_name("test_context_extract.py").read_text(encoding="utf-8")
    assert redact_secrets(code, "test_context_extract.py") == (code, {})
    prose = "Explain why the retry loop in settle() posts twice when the ledger times out."
    assert redact_secrets(prose) == (prose, {})


def test_a_secret_quoted_twice_counts_once() -> None:
    _, counts = redact_secrets(f'a = "{AWS}"\nb = "{AWS}"\n', "x.py")
    assert counts == {"AWS Access Key": 1}


def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / ".gitignore").write_text("*.local\nbuild/\n", encoding="utf-8")
    (root / "sub" / ".gitignore").write_text("!keep.local\n", encoding="utf-8")
    return root


def test_file_verdicts(tmp_path: Path) -> None:
    root = repo(tmp_path)
    filt = OutboundFilter(DEFAULT_WITHHOLD)
    assert filt.file_verdict(root / ".env") == "matches '.env*' (placement.withhold)"
    assert filt.file_verdict(root / "sub" / ".env.production") == "matches '.env*' (placement.withhold)"
    assert filt.file_verdict(root / "deploy" / "server.pem") == "matches '*.pem' (placement.withhold)"
    assert filt.file_verdict(root / "id_ed25519") == "matches 'id_ed25519' (placement.withhold)"
    assert filt.file_verdict(root / "notes.local") == "ignored by git"
    assert filt.file_verdict(root / "build" / "out.py") == "ignored by git"
    assert filt.file_verdict(root / "sub" / "keep.local") is None  # re-included by the deeper .gitignore
    assert filt.file_verdict(root / "app.py") is None
    assert filt.file_verdict(root / "id_ed25519.pub") is None
    # Outside any repository: patterns still apply by name, .gitignore cannot.
    assert filt.file_verdict(tmp_path / "loose" / ".env") is not None
    assert filt.file_verdict(tmp_path / "loose" / "a.local") is None
    assert filt.display(root / "sub" / "x.py") == "sub/x.py"


def test_parts_are_removed_or_redacted(tmp_path: Path) -> None:
    root = repo(tmp_path)
    filt = OutboundFilter(DEFAULT_WITHHOLD)
    text, report = filt.part(ContextPart("STRIPE=sk_live_x", root / ".env"))
    assert text is None and report is not None and (report.source, report.action) == (".env", "removed")
    text, report = filt.part(ContextPart(f'k = "{AWS}"', root / "app.py"))
    assert text == 'k = "[REDACTED:AWS Access Key]"' and report is not None
    assert (report.source, report.action, report.reason) == ("app.py", "redacted", "1 secret: AWS Access Key")
    assert filt.part(ContextPart("## Relevant code")) == ("## Relevant code", None)


def test_code_context_drops_related_code_from_withheld_files(tmp_path: Path) -> None:
    root = repo(tmp_path)
    (root / "app.py").write_text(f'from creds import TOKEN\n\nKEY = "{AWS}"\n\ndef run():\n    return TOKEN\n',
                                 encoding="utf-8")
    ctx = extract_from_file(str(root / "app.py"), 6, 1, token_budget=2000)
    related = RelatedSnippet(uri=(root / "creds.local").as_uri(), name="TOKEN", kind="variable", start_line=1,
                             end_line=1, score=1.0, text='TOKEN = "tulip-harbour"')
    filt = OutboundFilter(DEFAULT_WITHHOLD)
    text, withheld = filt.code_context(ctx.model_copy(update={"related": [related]}))
    assert text is not None and "tulip-harbour" not in text and AWS not in text and "def run():" in text
    assert [(w.source, w.action) for w in withheld] == [("creds.local", "removed"), ("app.py", "redacted")]
    dotenv = root / ".env"
    dotenv.write_text("A=1\n", encoding="utf-8")
    gone, reports = filt.code_context(extract_from_file(str(dotenv), 1, 1, token_budget=500))
    assert gone is None and [(w.source, w.action) for w in reports] == [(".env", "removed")]


_LINE_CHARS = st.sampled_from([*"ab_.-x =!:()[]\v\t'\"$0", "==", "!==", ":=", "get(", "].", "os.environ["])


@settings(max_examples=400, deadline=None)
@given(st.lists(_LINE_CHARS, max_size=120).map("".join))
def test_our_indirect_reference_filter_answers_as_detect_secrets_does(line: str) -> None:
    """The linear :func:`is_indirect_reference` replaces detect-secrets' own filter: same answer."""
    from detect_secrets.filters.heuristic import is_indirect_reference as library

    assert is_indirect_reference(line) == library(line)


def test_indirect_reference_filter_examples_and_a_long_line() -> None:
    from detect_secrets.filters.heuristic import is_indirect_reference as library

    examples = ["secret = get_secret_key()", "token = request.headers['apikey']", 'password = "hunter2hunter2"',
                "a: b(c)", "x == y[0]", "prose with no operator at all " * 30, "k = v " * 150 + "= f(x)",
                "a" * 999 + "=f()", "a" * 1001 + "=f()"]  # fmt: skip
    assert [is_indirect_reference(e) for e in examples] == [library(e) for e in examples]
    assert [is_indirect_reference(e) for e in examples[:5]] == [True, True, False, True, True]


def _one_scan(text: str, filename: str) -> list[tuple[int, str, str]]:
    """What detect-secrets' per-file scan finds in ``text`` read once, whole (no memo)."""
    from coding_director.context import secrets
    from detect_secrets.core.scan import _process_line_based_plugins

    with secrets._LOCK:
        secrets._plugins_by_type()
        found = _process_line_based_plugins(list(enumerate(text.splitlines(), 1)), filename=filename)
        return sorted((s.line_number - 1, s.type, s.secret_value or "") for s in found)


def _memoised(text: str, filename: str) -> list[tuple[int, str, str]]:
    from coding_director.context import secrets

    with secrets._LOCK:
        secrets._plugins_by_type()
        return sorted(secrets._line_findings(text.splitlines(), filename))


_SECRET_LINES = [
    f'aws = "{AWS}"', f"token = {GITHUB}", 'password = "hunter2hunter2xx"', "# pragma: allowlist nextline secret",
    'api_key = "sk_live_abcdefghijklmnop1234"', "secret = get_secret()", "x = 1", "", "def f(a, b):",
    "    return a + b", "Authorization: Bearer abcdefghijklmnopqrstuvwx",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----",
]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(_SECRET_LINES), max_size=14),
    st.lists(st.tuples(st.integers(0, 14), st.sampled_from(_SECRET_LINES), st.booleans()), max_size=6),
    st.sampled_from(["config.py", "memory.txt", "app.ts"]),
)
def test_memoised_line_findings_equal_one_scan_of_the_whole_text(
    lines: list[str], edits: list[tuple[int, str, bool]], filename: str
) -> None:
    """A text edited line by line (as typing edits a completion's prefix): after every edit, the
    findings with the memo warm from the earlier versions equal one fresh scan of the whole text."""
    for at, line, insert in [(0, "", False), *edits]:
        if insert or not lines:
            lines.insert(min(at, len(lines)), line)
        else:
            lines[min(at, len(lines) - 1)] = line
        text = "\n".join(lines)
        assert _memoised(text, filename) == _one_scan(text, filename)


def test_the_memo_sees_a_changed_line_above_a_secret() -> None:
    """An allowlist comment on the line above hides a secret; the memo keys on that line too, so
    adding or removing the comment changes the answer (a memo by the line alone would not)."""
    secret = 'api_key = "sk_live_abcdefghijklmnop1234"'
    assert [s.type for s in find_secrets(f"x = 1\n{secret}", "config.py")] == ["Secret Keyword"]
    assert find_secrets(f"# pragma: allowlist nextline secret\n{secret}", "config.py") == []
    assert [s.type for s in find_secrets(f"x = 1\n{secret}", "config.py")] == ["Secret Keyword"]


def test_a_keystroke_scans_only_the_changed_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """After one scan of a text, the same text with one more character on its last line sends one
    run to detect-secrets: that line and the line before it; the memo stays within its size."""
    import detect_secrets.core.scan as scan
    from coding_director.context import secrets

    text = "\n".join(f"value_{i} = compute({i})" for i in range(40))
    find_secrets(text, "typing.py")
    scanned: list[list[str]] = []
    library = scan._process_line_based_plugins

    def spy(lines: list[tuple[int, str]], filename: str) -> Iterator[Any]:
        scanned.append([line for _, line in lines])
        return library(lines, filename=filename)

    monkeypatch.setattr(scan, "_process_line_based_plugins", spy)
    find_secrets(text + "x", "typing.py")
    assert scanned == [["value_38 = compute(38)", "value_39 = compute(39)x"]]
    monkeypatch.setattr(secrets, "LINE_MEMO_SIZE", 10)
    find_secrets(text.replace("compute", "other"), "typing.py")
    assert len(secrets._LINE_MEMO) <= 10
    secrets._LINE_MEMO.clear()
    find_secrets("short = 1\n" + "long = 1 + " * 200, "typing.py")
    assert [key[2] for key in secrets._LINE_MEMO] == ["short = 1"]  # the 2,200-character line is not kept
