"""Training data from the memory (seed 004's learning pipeline).

- ``sft``: OpenAI's chat fine-tuning lines ``{"messages": [{"role": "user", ...}, {"role":
  "assistant", ...}]}`` from accepted answers that were not served from the cache and got no
  negative feedback (unhelpful, undone).
- ``dpo``: TRL's preference lines ``{"prompt", "chosen", "rejected"}`` (standard, not
  conversational, format of ``trl.DPOTrainer``): for each request where a tier's answer was
  rejected and a later tier's accepted, one line per rejected answer (chosen = the accepted one);
  and for inline completions at the same place (document and text before the cursor), each
  accepted completion against each dismissed one (prompt: the last
  :data:`~coding_director.memory.keys.PLACE_CHARS` characters before the cursor, as stored).

Texts were redacted when written; with ``memory.store_text = false`` there is nothing to export.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Literal

import apsw

from coding_director.memory.models import DpoLine, SftLine, SftMessage

ExportFormat = Literal["sft", "dpo"]

_NOT_NEGATIVE = "NOT EXISTS (SELECT 1 FROM feedback f WHERE f.request_id = r.id AND f.kind IN ('unhelpful', 'undone'))"


def sft_lines(conn: apsw.Connection, since: float) -> Iterator[SftLine]:
    """SFT lines of the requests created at or after ``since``, oldest first."""
    for prompt, answer in conn.execute(
        "SELECT r.prompt, r.answer FROM requests r WHERE r.created_at >= ? AND r.accepted = 1 AND r.cached = 0"
        f" AND r.source != 'completion' AND r.prompt IS NOT NULL AND r.answer != '' AND {_NOT_NEGATIVE}"
        " ORDER BY r.created_at",
        (since,),
    ):
        yield SftLine(
            messages=[SftMessage(role="user", content=str(prompt)), SftMessage(role="assistant", content=str(answer))]
        )


def dpo_lines(conn: apsw.Connection, since: float) -> Iterator[DpoLine]:
    """DPO pairs of the requests created at or after ``since`` (escalations, then completions)."""
    rows = conn.execute(
        "SELECT r.id, r.prompt, a.seq, a.outcome, a.answer FROM requests r JOIN attempts a ON a.request_id = r.id"
        f" WHERE r.created_at >= ? AND r.accepted = 1 AND r.source != 'completion' AND r.prompt IS NOT NULL"
        f" AND {_NOT_NEGATIVE} ORDER BY r.created_at, r.id, a.seq",
        (since,),
    ).fetchall()
    by_request: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for row in rows:
        by_request[str(row[0])].append(row)
    for attempts in by_request.values():
        accepted = [a for a in attempts if a[3] == "accepted" and a[4]]
        if not accepted:
            continue
        chosen = accepted[0]
        for attempt in attempts:
            if attempt[3] == "rejected" and attempt[4] and attempt[2] < chosen[2]:  # type: ignore[operator]
                yield DpoLine(prompt=str(chosen[1]), chosen=str(chosen[4]), rejected=str(attempt[4]))

    places: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: {"accepted": [], "dismissed": []})
    for place, prompt, answer, kind in conn.execute(
        "SELECT r.place, r.prompt, r.answer, f.kind FROM requests r JOIN feedback f ON f.request_id = r.id"
        " WHERE r.created_at >= ? AND r.source = 'completion' AND r.place IS NOT NULL AND r.prompt IS NOT NULL"
        " AND r.answer IS NOT NULL AND f.kind IN ('accepted', 'dismissed') ORDER BY r.created_at",
        (since,),
    ):
        places[str(place)][str(kind)].append((str(prompt), str(answer)))
    for groups in places.values():
        for prompt, chosen_text in groups["accepted"]:
            for _prompt, rejected_text in groups["dismissed"]:
                if rejected_text != chosen_text:
                    yield DpoLine(prompt=prompt, chosen=chosen_text, rejected=rejected_text)


def export_lines(conn: apsw.Connection, fmt: ExportFormat, since: float) -> Iterator[str]:
    """JSON lines (without newline) of ``fmt`` for the requests since ``since``."""
    lines: Iterator[SftLine] | Iterator[DpoLine] = sft_lines(conn, since) if fmt == "sft" else dpo_lines(conn, since)
    for line in lines:
        yield line.model_dump_json()
