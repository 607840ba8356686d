"""Cache keys: what makes two requests "the same question".

- normalised prompt: Unicode case-folded, runs of whitespace collapsed, stripped;
- context digest: SHA-256 of the rendered code context and the conversation so far;
- settings digest: SHA-256 of both tier chains and every tier's model settings (model, provider,
  endpoint, temperature, num_predict, max_ctx), so changing a model invalidates its answers;
- scope = digest(context digest, settings digest): semantic hits never cross a scope;
- semantic scope = digest(scope, literals of the prompt): two prompts that differ in a number, a
  quoted string or an identifier ("port 8080" / "port 8081", ``parse_a`` / ``parse_b``) are close
  in embedding space but not the same question, so a semantic hit also needs equal literals.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence

from coding_director.backends import Message
from coding_director.settings import Settings


def normalise_prompt(prompt: str) -> str:
    """``prompt`` case-folded with whitespace runs collapsed to one space."""
    return " ".join(prompt.split()).casefold()


def _sha(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def context_digest(context_text: str | None, history: Sequence[Message]) -> str:
    """Digest of the rendered context and the earlier conversation (roles and texts)."""
    return _sha(context_text or "", *(f"{m.role}:{m.content}" for m in history))


def settings_digest(settings: Settings) -> str:
    """Digest of the tier chains and the model settings of every tier."""
    routing = settings.routing
    tiers = {
        name: [t.model, t.provider, settings.endpoint_of(name), t.temperature, t.num_predict, t.max_ctx]
        for name, t in sorted(settings.tiers.items())
    }
    return _sha(json.dumps([routing.general_chain, routing.math_chain, routing.router, tiers], sort_keys=True))


#: Literals: quoted or back-ticked spans, numbers, and code-like identifiers (an underscore, a dot,
#: a digit or an inner capital), e.g. ``"utf-8"``, ``8080``, ``3.5``, ``parse_args``, ``os.path``,
#: ``getItem``, ``md5``.
_LITERAL = re.compile(
    r"""`[^`]+`|"[^"]+"|(?<!\w)'[^'\s][^']*'(?!\w)"""
    r"|\d+(?:\.\d+)*"
    r"|[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+"
    r"|[A-Za-z]*[a-z][A-Z]\w*|\w*_\w+|[A-Za-z]+\d\w*"
)


def literals_of(prompt: str) -> list[str]:
    """The sorted literals of ``prompt`` (numbers, quoted spans, code-like identifiers), as written."""
    return sorted(match.group(0) for match in _LITERAL.finditer(prompt))


def semantic_scope(scope: str, prompt: str) -> str:
    """The partition a semantic hit is searched in: ``scope`` and the literals of ``prompt``."""
    return _sha(scope, *literals_of(prompt))


def scope_of(context: str, settings: str) -> str:
    """The semantic-search scope of a request."""
    return _sha(context, settings)


def exact_key(prompt: str, scope: str, overrides: str) -> str:
    """The exact key: normalised prompt, scope, and the caller's overrides (intent, domain, language)."""
    return _sha(normalise_prompt(prompt), scope, overrides)


#: Characters before the cursor that identify where a completion was asked (:func:`place_of`).
PLACE_CHARS = 2000


def place_of(uri: str, prefix: str) -> str:
    """Where a completion was asked: the document and the last :data:`PLACE_CHARS` characters
    before the cursor."""
    return _sha(uri, prefix[-PLACE_CHARS:])
