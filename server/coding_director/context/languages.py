"""Supported languages: detection from LSP language ids / file extensions, and grammar loading.

Grammars come from the per-language wheels (``tree-sitter-python`` ...), loaded lazily on first use
so that importing this package costs nothing for languages that are never opened.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import PurePath

from tree_sitter import Language, Parser

__all__ = ["LANGUAGES", "LanguageSpec", "detect_language", "get_language", "new_parser", "spec_for"]


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    """How one language is loaded and treated.

    ``module``/``factory``: the grammar wheel's module and the function returning the language
    pointer. ``extensions``: lower-case file suffixes including the dot. ``lsp_ids``: LSP language
    ids. ``outline_depth``: the deepest tree depth (root = 0) at which a definition may *start* to be
    listed in the outline/symbol index (deep enough for members of top-level classes, shallow enough
    to stay cheap on a 14k-line file). ``import_depth``: same limit for import statements.
    ``wrappers``: node types that wrap a definition and belong to its text (decorators, ``export``,
    ``template<...>``). ``fim_tag``: the code-fence tag used when rendering.
    """

    name: str
    module: str
    factory: str
    extensions: tuple[str, ...]
    lsp_ids: tuple[str, ...]
    outline_depth: int
    import_depth: int
    wrappers: tuple[str, ...] = ()
    fence: str = ""


LANGUAGES: dict[str, LanguageSpec] = {
    spec.name: spec
    for spec in (
        LanguageSpec("python", "tree_sitter_python", "language", (".py", ".pyi", ".pyw"), ("python",),
                     outline_depth=5, import_depth=3, wrappers=("decorated_definition",), fence="python"),
        LanguageSpec("javascript", "tree_sitter_javascript", "language", (".js", ".mjs", ".cjs", ".jsx"),
                     ("javascript", "javascriptreact"), outline_depth=4, import_depth=2,
                     wrappers=("export_statement",), fence="javascript"),
        LanguageSpec("typescript", "tree_sitter_typescript", "language_typescript", (".ts", ".mts", ".cts"),
                     ("typescript",), outline_depth=5, import_depth=2,
                     wrappers=("export_statement", "ambient_declaration"), fence="typescript"),
        LanguageSpec("tsx", "tree_sitter_typescript", "language_tsx", (".tsx",), ("typescriptreact",),
                     outline_depth=5, import_depth=2, wrappers=("export_statement", "ambient_declaration"),
                     fence="tsx"),
        LanguageSpec("go", "tree_sitter_go", "language", (".go",), ("go",),
                     outline_depth=3, import_depth=1, fence="go"),
        LanguageSpec("rust", "tree_sitter_rust", "language", (".rs",), ("rust",),
                     outline_depth=3, import_depth=3, fence="rust"),
        LanguageSpec("java", "tree_sitter_java", "language", (".java",), ("java",),
                     outline_depth=4, import_depth=1, fence="java"),
        LanguageSpec("c", "tree_sitter_c", "language", (".c", ".h"), ("c",),
                     outline_depth=3, import_depth=2, fence="c"),
        LanguageSpec("cpp", "tree_sitter_cpp", "language",
                     (".cpp", ".cc", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp", ".inl"),
                     ("cpp", "cuda-cpp"), outline_depth=5, import_depth=2,
                     wrappers=("template_declaration",), fence="cpp"),
    )
}

_BY_LSP_ID = {lsp_id: spec.name for spec in LANGUAGES.values() for lsp_id in spec.lsp_ids}
_BY_EXTENSION = {ext: spec.name for spec in LANGUAGES.values() for ext in spec.extensions}


def detect_language(language_id: str | None = None, path: str | None = None) -> str | None:
    """Return the language name for an LSP ``language_id`` and/or a file ``path`` (or URI).

    The language id wins when it is known; otherwise the file suffix decides (case-insensitive).
    Returns one of ``"python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp"``
    or ``None`` when neither identifies a supported language (the file is then handled as plain
    text). Never raises.
    """
    if language_id:
        name = _BY_LSP_ID.get(language_id.strip().lower())
        if name is not None:
            return name
    if path:
        suffix = PurePath(path.split("?", 1)[0].split("#", 1)[0]).suffix.lower()
        return _BY_EXTENSION.get(suffix)
    return None


def spec_for(language: str) -> LanguageSpec:
    """The :class:`LanguageSpec` of a supported language name. Raises ``KeyError`` otherwise."""
    return LANGUAGES[language]


@cache
def get_language(language: str) -> Language:
    """The tree-sitter :class:`Language` for ``language`` (loaded once, then cached).

    Raises ``KeyError`` for an unsupported name and ``ImportError`` when its grammar wheel is missing.
    """
    spec = LANGUAGES[language]
    module = importlib.import_module(spec.module)
    return Language(getattr(module, spec.factory)())


def new_parser(language: str) -> Parser:
    """A fresh :class:`Parser` for ``language`` (parsers are cheap; keep one per document store)."""
    return Parser(get_language(language))
