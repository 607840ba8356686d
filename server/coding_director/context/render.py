"""Plain-text/markdown rendering of a :class:`CodeContext` for a model prompt."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from coding_director.context.languages import LANGUAGES
from coding_director.context.models import CodeContext

__all__ = ["path_of_uri", "render_context"]


def path_of_uri(uri: str) -> Path | None:
    """The local path of a ``file:`` URI (``None`` for other schemes such as ``untitled:``)."""
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def _display_path(uri: str) -> str:
    if uri.startswith("file://"):
        return unquote(urlparse(uri).path)
    return uri


def _fence(language: str | None) -> str:
    if language and language in LANGUAGES:
        return LANGUAGES[language].fence
    return ""


def render_context(ctx: CodeContext) -> str:
    """Render ``ctx`` as compact markdown: file and language, cursor, enclosing chain, diagnostics,
    imports, outline, the focus code in a fenced block tagged with the language, related snippets,
    and a note for every truncated section. Lines are 1-based, as in the CodeContext."""
    fence = _fence(ctx.language)
    out: list[str] = [f"File: {_display_path(ctx.uri)} ({ctx.language or 'plain text'})"]
    cursor = f"Cursor: line {ctx.cursor.line}, column {ctx.cursor.column}"
    if ctx.range_end is not None:
        cursor += f" to line {ctx.range_end.line}, column {ctx.range_end.column}"
    out.append(cursor)
    if ctx.plain_text_reason:
        out.append(f"Not parsed ({ctx.plain_text_reason}): plain-text line window only.")
    if ctx.enclosing:
        out.append("Enclosing: " + " > ".join(
            f"{e.kind} {e.name}" + (f" (lines {e.start_line}-{e.end_line})" if e.kind != "module" else "")
            for e in ctx.enclosing
        ))
    if ctx.diagnostics:
        out += ["", "## Diagnostics"]
        for d in ctx.diagnostics:
            where = f"line {d.start_line}" + (f"-{d.end_line}" if d.end_line != d.start_line else "")
            source = f" [{d.source}]" if d.source else ""
            out.append(f"- {where} {d.severity or 'note'}{source}: {d.message}")
    if ctx.imports:
        out += ["", "## Imports", f"```{fence}", *ctx.imports, "```"]
    if ctx.outline:
        out += ["", "## Outline"]
        out += [f"{'  ' * o.depth}- {o.signature} (lines {o.start_line}-{o.end_line})" for o in ctx.outline]
    focus = ctx.focus
    title = f"{focus.name}" if focus.name else "lines around the cursor"
    out += ["", f"## Focus: {title} (lines {focus.start_line}-{focus.end_line})", f"```{fence}",
            focus.text, "```"]
    if ctx.related:
        out += ["", "## Related definitions"]
        for r in ctx.related:
            out += [f"### {r.kind} {r.name} ({_display_path(r.uri).rsplit('/', 1)[-1]}:{r.start_line}-"
                    f"{r.end_line})", f"```{fence}", r.text, "```"]
    if ctx.truncation:
        out += ["", "Note: context was cut to fit the token budget:"]
        out += [f"- {t.section}: {t.reason}" for t in ctx.truncation]
    return "\n".join(out) + "\n"
