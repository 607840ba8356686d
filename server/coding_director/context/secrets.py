"""What of a request's context may leave this machine: files withheld whole, secrets redacted.

Before a request goes to a tier on another machine (``Settings.is_local``), its context is filtered
here (local tiers get it unchanged):

- a file is **removed** when its path matches ``placement.withhold`` (gitignore patterns: ``.env*``,
  private-key and credential files by default) or when git ignores it (the ``.gitignore`` files of
  its repository, :class:`~coding_director.context.ignore.IgnoreRules`): build output, local
  configuration and the like are where secrets live;
- in everything else (the focus file, related code, retrieved snippets, mentioned files, the chat
  history, the request itself) the secrets that `detect-secrets <https://github.com/Yelp/detect-secrets>`_
  finds are **redacted**: replaced by ``[REDACTED:<type>]``. Its line scan with every plugin and its
  default filters is run (the scan ``detect-secrets scan`` runs per file); a regex plugin's whole match
  is replaced (its reported value may be only a prefix group, ``ghp`` of a GitHub token), and a
  private key is redacted from its ``BEGIN`` line to its ``END`` line.

Each removal or redaction is reported as a :class:`~coding_director.results.Withheld`, which the user
sees with the answer. This module is pure and synchronous; the scan costs about 0.3 ms per line here,
so callers on an event loop run it in a worker thread. What the scan finds on a line is remembered
(:func:`_line_findings`): the same texts come back again and again (an inline completion's prefix
and suffix on every keystroke, the same files in the context of one chat after another, the memory
redacting a prompt the context filter has already scanned), and only their changed lines are scanned.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pathspec

from coding_director.context.ignore import IgnoreRules
from coding_director.context.models import CodeContext
from coding_director.context.render import path_of_uri, render_context
from coding_director.results import Withheld

__all__ = ["ContextPart", "OutboundFilter", "SecretSpan", "find_secrets", "plugin_label", "redact_secrets"]

#: The secret types whose finding means "from here to the END line" (detect-secrets' PrivateKeyDetector).
_BLOCK_TYPES = frozenset({"Private Key"})
#: Lines searched for the end of a private key block.
_BLOCK_MAX_LINES = 200
#: ``Authorization: Bearer <token>``, which detect-secrets 1.5 has no plugin for (group 1: the token).
_BEARER = re.compile(r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{16,}=*)")
BEARER_TYPE = "Bearer Token"
#: detect-secrets keeps its configuration in a process-wide object; scans hold this lock.
_LOCK = threading.Lock()
#: Lines whose findings are remembered (:func:`_line_findings`); the memo is emptied when full.
LINE_MEMO_SIZE = 1 << 14
#: A line (with the line before it) longer than this many characters is not remembered (it would
#: hold its text in memory; minified code and pasted logs rarely come back the same).
LINE_MEMO_MAX_CHARS = 2000
#: ``(filename, previous line, line)`` -> ``(type, value)`` of each finding on the line.
_LINE_MEMO: dict[tuple[str, str, str], tuple[tuple[str, str], ...]] = {}


@dataclass(frozen=True, slots=True)
class ContextPart:
    """One piece of a request's context as rendered into the prompt (``text``, markdown) and the
    file it shows (``path``, absolute; ``None`` when it comes from no file, such as a heading)."""

    text: str
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class SecretSpan:
    """A secret found in a text: ``type`` as detect-secrets names it (``"AWS Access Key"``), 0-based
    ``line`` and the character offsets ``start``/``end`` within that line (end exclusive).
    ``continued``: a later line of a secret that spans lines (a private key block)."""

    type: str
    line: int
    start: int
    end: int
    continued: bool = False


_LIBRARY_INDIRECT_REFERENCE = "detect_secrets.filters.heuristic.is_indirect_reference"
_OUR_INDIRECT_REFERENCE = f"{__name__}.is_indirect_reference"
#: Where a match of detect-secrets' indirect-reference regex can start (see :func:`is_indirect_reference`).
_AFTER_STOP = re.compile(r"[\v=!:]")


def is_indirect_reference(line: str) -> bool:
    r"""detect-secrets' line filter ``heuristic.is_indirect_reference`` (``secret = get_key()``,
    ``token = request.headers['x']`` are not secrets), with the same answer for every line but
    linear where the library's ``regex.search`` is quadratic in the line's length.

    The library searches ``([^\v=!:]*)\s*(:=?|[!=]{1,3})\s*(...)`` from every position: 2.4 ms
    for a 320-character line of prose, measured here (every line of every prompt, answer and
    context goes through it, up to its 1,000-character cut-off). A match starting at ``i`` implies
    one starting at the line's start or just after the last ``\v``, ``=``, ``!`` or ``:`` before
    ``i`` (the first group absorbs the characters between), so trying ``regex.match`` at those
    positions only gives the same result. ``tests/context/test_secrets.py`` checks the equality
    with hypothesis."""
    from detect_secrets.filters.heuristic import _get_indirect_reference_regex

    if len(line) > 1000 or not any(op in line for op in "=!:"):  # the library's cut-off; no operator
        return False
    regex = _get_indirect_reference_regex()
    if regex.match(line):
        return True
    return any(regex.match(line, stop.end()) for stop in _AFTER_STOP.finditer(line))


@cache
def _plugins_by_type() -> dict[str, Any]:
    """Configure detect-secrets with every plugin it ships (no verification: nothing is sent
    anywhere) and its default filters, :func:`is_indirect_reference` in place of the library's
    slower equivalent, and return the plugins by secret type. Called under :data:`_LOCK`."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import configure_settings_from_baseline, get_filters, get_plugins, get_settings

    classes: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    configure_settings_from_baseline({"plugins_used": [{"name": cls.__name__} for cls in classes]})
    settings = get_settings()
    if _LIBRARY_INDIRECT_REFERENCE in settings.filters:
        settings.disable_filters(_LIBRARY_INDIRECT_REFERENCE)
        settings.filters[_OUR_INDIRECT_REFERENCE] = {}
        get_filters.cache_clear()
    return {plugin.secret_type: plugin for plugin in get_plugins()}


def _spans_of(line: str, value: str, plugin: Any) -> list[tuple[int, int]]:
    """Where ``value`` (reported by ``plugin``) sits in ``line``: the whole match of a regex
    plugin's pattern that contains it, else every occurrence of the value itself."""
    from detect_secrets.plugins.base import RegexBasedDetector

    spans: list[tuple[int, int]] = []
    if isinstance(plugin, RegexBasedDetector):
        for pattern in plugin.denylist:
            spans += [m.span() for m in pattern.finditer(line) if value in m.group(0)]
    if not spans and value:
        start = line.find(value)
        while start >= 0:
            spans.append((start, start + len(value)))
            start = line.find(value, start + len(value))
    return spans


def _block(lines: list[str], first: int, kind: str) -> list[SecretSpan]:
    """The spans of a PEM block found on line ``first``: from ``-----BEGIN`` to the end of the
    ``-----END ...-----`` marker (the whole first line when there is no marker)."""
    begin = max(lines[first].find("-----BEGIN"), 0)
    last = next((i for i in range(first, min(len(lines), first + _BLOCK_MAX_LINES)) if "-----END" in lines[i]), None)
    if last is None:
        return [SecretSpan(kind, first, begin, len(lines[first]))]
    spans = []
    for i in range(first, last + 1):
        start = begin if i == first else 0
        end = len(lines[i])
        if i == last:
            marker = lines[i].find("-----END")
            close = lines[i].find("-----", marker + 8)
            end = close + 5 if close >= 0 else end
        spans.append(SecretSpan(kind, i, start, end, continued=i != first))
    return spans


def _line_findings(lines: list[str], filename: str) -> list[tuple[int, str, str]]:
    """``(index, type, value)`` of every secret the per-file scan of ``detect-secrets scan`` finds in
    ``lines`` (0-based index), in line order. Called under :data:`_LOCK`.

    What the scan finds on a line depends only on ``filename``, the line and the line before it:
    plugins read the line alone, and of the filters only ``allowlist.is_line_allowlisted`` reads
    the code around it, and of that only ``CodeSnippet.previous_line`` (a ``pragma: allowlist
    nextline secret`` comment; ``''`` for the first line); checked in detect-secrets 1.5.0. So the
    findings are memoised by ``(filename, previous line, line)``, and each run of lines not seen
    before is scanned with the line before it (whose own findings are dropped) as its context.
    ``tests/context/test_secrets.py`` checks the result against one scan of the whole text."""
    from detect_secrets.core.scan import _process_line_based_plugins  # the per-file scan of `detect-secrets scan`

    keys = [(filename, lines[i - 1] if i else "", line) for i, line in enumerate(lines)]
    known = [_LINE_MEMO.get(key) for key in keys]
    i = 0
    while i < len(lines):
        if known[i] is not None:
            i += 1
            continue
        end = i
        while end < len(lines) and known[end] is None:
            end += 1
        first = max(i - 1, 0)  # the run's context: the line before it
        found: dict[int, list[tuple[str, str]]] = {j: [] for j in range(i, end)}
        window = list(enumerate(lines[first:end], 1))
        for secret in _process_line_based_plugins(window, filename=filename):
            index = first + secret.line_number - 1
            if index in found:
                found[index].append((secret.type, secret.secret_value or ""))
        for j in range(i, end):
            known[j] = hits = tuple(found[j])
            if len(keys[j][1]) + len(keys[j][2]) <= LINE_MEMO_MAX_CHARS:
                if len(_LINE_MEMO) >= LINE_MEMO_SIZE:
                    _LINE_MEMO.clear()
                _LINE_MEMO[keys[j]] = hits
        i = end
    return [(index, kind, value) for index, hits in enumerate(known) for kind, value in hits or ()]


def find_secrets(text: str, filename: str = "context.txt") -> list[SecretSpan]:
    """Every secret detect-secrets finds in ``text``, as spans sorted by line and offset.

    ``filename`` (its suffix) chooses detect-secrets' per-language keyword rules (``.py``: quoted
    assignments). A private key yields one span per line from its ``BEGIN`` line to the line with
    ``-----END`` (at most :data:`_BLOCK_MAX_LINES` lines). Never raises for any text. Lines scanned
    before (with the same line before them and ``filename``) are not scanned again (:func:`_line_findings`).
    """
    lines = text.splitlines()
    with _LOCK:
        plugins = _plugins_by_type()
        found = _line_findings(lines, filename)
    spans: list[SecretSpan] = []
    for index, kind, value in found:
        if kind in _BLOCK_TYPES:
            spans += _block(lines, index, kind)
            continue
        spans += [SecretSpan(kind, index, a, b) for a, b in _spans_of(lines[index], value, plugins.get(kind))]
    for index, line in enumerate(lines):
        spans += [SecretSpan(BEARER_TYPE, index, *m.span(1)) for m in _BEARER.finditer(line)]
    return sorted(set(spans), key=lambda s: (s.line, s.start, -s.end))


def plugin_label(secret_type: str) -> str:
    """The short name of the detect-secrets plugin that finds ``secret_type`` (``"AWS Access Key"``
    -> ``"AWSKey"``, its class ``AWSKeyDetector``); types without a plugin lose their spaces
    (``"Bearer Token"`` -> ``"BearerToken"``)."""
    with _LOCK:
        plugin = _plugins_by_type().get(secret_type)
    return type(plugin).__name__.removesuffix("Detector") if plugin is not None else secret_type.replace(" ", "")


def _specific_first(types: set[str]) -> str:
    """The most telling name among the types found at one place (a named format beats entropy)."""
    named = sorted(t for t in types if "High Entropy" not in t and t != "Secret Keyword")
    return (named or sorted(types))[0]


def redact_secrets(
    text: str, filename: str = "context.txt", label: Callable[[str], str] = str
) -> tuple[str, Counter[str]]:
    """``text`` with each secret of :func:`find_secrets` replaced by ``[REDACTED:<label(type)>]``
    (``label`` defaults to the type itself, ``[REDACTED:AWS Access Key]``), and how many distinct
    secrets of each type were replaced (a key quoted twice counts once). Overlapping findings are
    merged into one redaction named by the most specific type. Line breaks are kept."""
    spans = find_secrets(text, filename)
    if not spans:
        return text, Counter()
    lines = text.splitlines(keepends=True)
    seen: set[tuple[str, str]] = set()
    by_line: dict[int, list[SecretSpan]] = {}
    for span in spans:
        by_line.setdefault(span.line, []).append(span)
    for index, found in by_line.items():
        line = lines[index]
        body = line.rstrip("\r\n")
        merged: list[tuple[int, int, set[str], bool]] = []
        for span in found:  # sorted by start
            if merged and span.start < merged[-1][1]:
                start, end, types, continued = merged[-1]
                merged[-1] = (start, max(end, span.end), types | {span.type}, continued and span.continued)
            else:
                merged.append((span.start, span.end, {span.type}, span.continued))
        for start, end, types, continued in reversed(merged):
            name = _specific_first(types)
            if not continued:
                seen.add((name, body[start:end]))
            body = f"{body[:start]}[REDACTED:{label(name)}]{body[end:]}"
        lines[index] = body + line[len(line.rstrip("\r\n")):]
    return "".join(lines), Counter(name for name, _value in seen)


def _describe(counts: Counter[str]) -> str:
    total = sum(counts.values())
    return f"{total} secret{'s' if total != 1 else ''}: {', '.join(sorted(counts))}"


class OutboundFilter:
    """Filters context for non-local tiers (see the module docstring).

    ``withhold``: gitignore patterns of files never sent (``placement.withhold``), matched against
    the path inside its folder. ``roots``: workspace folders; a file's repository is the nearest
    folder above it holding ``.git``, else the innermost root containing it (its ``.gitignore``
    files apply). Ignore rules are read once per repository and cached.
    """

    def __init__(self, withhold: Sequence[str], roots: Sequence[Path] = ()) -> None:
        self.roots = [Path(r) for r in roots]
        self._patterns = [(p, pathspec.GitIgnoreSpec.from_lines([p])) for p in withhold if p.strip()]
        self._rules: dict[Path, IgnoreRules] = {}

    def _root_of(self, path: Path) -> Path | None:
        for folder in path.parents:
            if (folder / ".git").exists():
                return folder
        inside = [r for r in self.roots if r == path or r in path.parents]
        return max(inside, key=lambda r: len(r.parts), default=None)

    def display(self, path: Path) -> str:
        """``path`` relative to its repository or workspace folder, else to the working directory
        when inside it (``/`` separators), else as given."""
        root = self._root_of(path)
        if root is None and Path.cwd() in path.parents:
            root = Path.cwd()
        return path.relative_to(root).as_posix() if root is not None else str(path)

    def file_verdict(self, path: Path) -> str | None:
        """Why the file at ``path`` (absolute) must not leave the machine, or ``None`` when it may
        (after redaction)."""
        root = self._root_of(path)
        rel = path.relative_to(root).as_posix() if root is not None else path.name
        for pattern, spec in self._patterns:
            if spec.match_file(rel):
                return f"matches {pattern!r} (placement.withhold)"
        if root is not None:
            rules = self._rules.get(root)
            if rules is None:
                rules = self._rules[root] = IgnoreRules(root)
            if rules.ignored_path(rel):
                return "ignored by git"
        return None

    def redact(self, text: str, source: str, filename: str = "context.txt") -> tuple[str, Withheld | None]:
        """``text`` with its secrets redacted (:func:`redact_secrets`), and the report when any was."""
        redacted, counts = redact_secrets(text, filename)
        return redacted, (Withheld(source=source, action="redacted", reason=_describe(counts)) if counts else None)

    def part(self, part: ContextPart) -> tuple[str | None, Withheld | None]:
        """A context part for a non-local tier: ``None`` when its file is withheld, else its text
        redacted; with the report of what was withheld from it (``None``: nothing)."""
        if part.path is None:
            return self.redact(part.text, "context")
        verdict = self.file_verdict(part.path)
        shown = self.display(part.path)
        if verdict is not None:
            return None, Withheld(source=shown, action="removed", reason=verdict)
        return self.redact(part.text, shown, part.path.name)

    def code_context(self, ctx: CodeContext) -> tuple[str | None, list[Withheld]]:
        """A rendered :class:`CodeContext` for a non-local tier: ``None`` when the focus file is
        withheld; otherwise related definitions from withheld files are dropped before rendering
        and the secrets of the rest are redacted. Returns the text and what was withheld."""
        withheld: list[Withheld] = []
        focus = path_of_uri(ctx.uri)
        if focus is not None and (verdict := self.file_verdict(focus)) is not None:
            return None, [Withheld(source=self.display(focus), action="removed", reason=verdict)]
        kept = []
        for snippet in ctx.related:
            path = path_of_uri(snippet.uri)
            verdict = self.file_verdict(path) if path is not None else None
            if path is not None and verdict is not None:
                withheld.append(Withheld(source=self.display(path), action="removed", reason=verdict))
            else:
                kept.append(snippet)
        rendered = render_context(ctx.model_copy(update={"related": kept}) if len(kept) != len(ctx.related) else ctx)
        source = self.display(focus) if focus is not None else ctx.uri
        text, report = self.redact(rendered, source, focus.name if focus is not None else "context.txt")
        return text, withheld + ([report] if report else [])
