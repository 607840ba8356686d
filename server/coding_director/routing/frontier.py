"""The guard in front of every non-local tier, and the placement of each request.

:class:`Frontier` is what escalation asks before and after an attempt on a tier that runs on another
machine (``Settings.is_local``):

- :meth:`Frontier.outbound`: the request as it may leave the machine (prompt, code context,
  retrieved and mentioned files, chat history filtered by :class:`~coding_director.context.secrets.OutboundFilter`;
  local tiers get the request unchanged);
- :meth:`Frontier.budget`: whether the attempt could push today's spend (UTC day, every priced
  model, ``placement.daily_budget_usd``) over the cap: the worst case is the estimated prompt
  tokens plus ``num_predict`` completion tokens at the model's ``placement.prices``;
- :meth:`Frontier.charge`: the attempt's cost from the token counts the server reported (estimated
  when it reported none), written to the ledger (:mod:`coding_director.routing.ledger`).

And for the engine, :meth:`Frontier.place`: complexity, placement and the chain to try
(:mod:`coding_director.routing.placement`), with the learned threshold; :meth:`Frontier.record`
feeds the outcome back. With ``routing.frontier = "off"`` nothing is read or written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from coding_director.backends import Message
from coding_director.context.models import CodeContext
from coding_director.context.secrets import ContextPart, OutboundFilter
from coding_director.results import Attempt, PlacementReport, RouteDecision, ThresholdMove, Withheld
from coding_director.routing.complexity import Complexity, ComplexityInput, estimate_complexity
from coding_director.routing.history import PER_MESSAGE_TOKENS
from coding_director.routing.ledger import Ledger, cost_usd, default_ledger_path, utc_day
from coding_director.routing.placement import (
    HistoryRow,
    PlacementHistory,
    ThresholdState,
    history_row,
    learn_threshold,
    place_chain,
    similar_outcomes,
)
from coding_director.routing.prompts import Failure
from coding_director.settings import ModelPrice, Settings
from coding_director.tokens import estimate_tokens

if TYPE_CHECKING:
    from coding_director.memory import Memory

__all__ = ["Frontier", "Outbound", "OutboundSources"]

log = logging.getLogger(__name__)

#: The most recorded requests the threshold is learned from (the newest).
MAX_HISTORY_ROWS = 5000


@dataclass(frozen=True, slots=True)
class OutboundSources:
    """What a request's context is made of, so that it can be filtered piece by piece: the focus
    ``context`` (a :class:`CodeContext`, or a plain snippet) and the ``extra`` parts (retrieved and
    mentioned files, each with its path)."""

    context: CodeContext | str | None = None
    extra: tuple[ContextPart, ...] = ()


@dataclass(slots=True)
class Outbound:
    """A request as it may go to a non-local tier, and what was withheld from it. ``removed``: a
    file was left out whole (earlier answers might quote it, so they are not quoted onward)."""

    prompt: str
    context_text: str | None
    history: list[Message]
    withheld: list[Withheld] = field(default_factory=list)
    removed: bool = False


def _merge(withheld: list[Withheld]) -> list[Withheld]:
    """One entry per (source, action): repeated redactions of the same source are reported once."""
    seen: dict[tuple[str, str], Withheld] = {}
    for item in withheld:
        seen.setdefault((item.source, item.action), item)
    return list(seen.values())


def _message_tokens(messages: Sequence[Message]) -> int:
    return sum(estimate_tokens(m.content) + PER_MESSAGE_TOKENS for m in messages)


class Frontier:
    """Placement and the guard of non-local tiers for one :class:`Settings` (see the module docstring).

    ``roots()`` gives the workspace folders (for ``.gitignore``); the recorded requests the
    threshold learns from are ``history`` when given, else those of ``memory`` when it is usable
    (:meth:`~coding_director.memory.Memory.placement_history`), else the ledger's; ``clock``
    returns Unix seconds.
    """

    def __init__(
        self,
        settings: Settings,
        roots: Callable[[], Sequence[Path]] = tuple,
        *,
        history: PlacementHistory | None = None,
        memory: Memory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._roots = roots
        if history is None and memory is not None and memory.available:
            history = memory.placement_history(settings.is_local)
        self._history = history
        self._clock = clock
        self._ledger: Ledger | None = None
        self.last_state: ThresholdState | None = None

    @property
    def ledger(self) -> Ledger:
        """The ledger of ``placement.ledger_path`` (opened on first use)."""
        if self._ledger is None:
            path = self.settings.placement.ledger_path
            self._ledger = Ledger(Path(path).expanduser() if path else default_ledger_path())
        return self._ledger

    def close(self) -> None:
        """Close the ledger's connection."""
        if self._ledger is not None:
            self._ledger.close()

    # -- the guard ---------------------------------------------------------------------------------
    def price_of(self, tier: str) -> ModelPrice | None:
        """The price of tier ``tier``'s model (``placement.prices``), ``None`` when it has none."""
        return self.settings.placement.prices.get(self.settings.tier(tier).model)

    def filter(self) -> OutboundFilter:
        """A filter over the current workspace folders and ``placement.withhold``."""
        return OutboundFilter(self.settings.placement.withhold, list(self._roots()))

    async def outbound(self, prompt: str, context_text: str | None, history: Sequence[Message],
                       sources: OutboundSources | None) -> Outbound:
        """The request for a non-local tier (in a worker thread: detect-secrets is pure Python)."""
        return await asyncio.to_thread(self._outbound, prompt, context_text, list(history), sources)

    def _outbound(self, prompt: str, context_text: str | None, history: list[Message],
                  sources: OutboundSources | None) -> Outbound:
        filt = self.filter()
        withheld: list[Withheld] = []
        texts: list[str] = []
        if sources is None:  # only the rendered text is known
            if context_text:
                redacted, report = filt.redact(context_text, "context")
                texts.append(redacted)
                withheld += [report] if report else []
        else:
            if isinstance(sources.context, CodeContext):
                rendered, reports = filt.code_context(sources.context)
                texts += [rendered] if rendered else []
                withheld += reports
            elif sources.context:
                redacted, report = filt.redact(f"```\n{sources.context}\n```", "selected code")
                texts.append(redacted)
                withheld += [report] if report else []
            for part in sources.extra:
                kept, report = filt.part(part)
                texts += [kept] if kept else []
                withheld += [report] if report else []
        out_prompt, report = filt.redact(prompt, "request")
        withheld += [report] if report else []
        out_history = []
        for message in history:
            content, report = filt.redact(message.content, "chat history")
            out_history.append(Message(role=message.role, content=content))
            withheld += [report] if report else []
        removed = any(w.action == "removed" for w in withheld)
        return Outbound(out_prompt, "\n\n".join(texts) or None, out_history, _merge(withheld), removed)

    async def failures(self, failures: Sequence[Failure], outbound: Outbound) -> list[Failure]:
        """Earlier tiers' failures as a non-local tier may see them: reasons and answers redacted;
        answers not quoted at all when a file was withheld whole (they might quote it), which is
        added to ``outbound.withheld``."""

        def run() -> list[Failure]:
            filt = self.filter()
            out = []
            for failure in failures:
                reason, _ = filt.redact(failure.reason, "earlier answers")
                answer = "" if outbound.removed else filt.redact(failure.answer, "earlier answers")[0]
                out.append(Failure(failure.tier, failure.model, reason, answer))
            if outbound.removed and any(f.answer.strip() for f in failures):
                note = Withheld(source="earlier answers", action="removed",
                                reason="local tiers' answers are not quoted: they may quote the withheld files")
                outbound.withheld = _merge([*outbound.withheld, note])
            return out

        return await asyncio.to_thread(run) if failures else []

    async def budget(self, tier: str, messages: Sequence[Message], num_predict: int) -> str | None:
        """``None`` when an attempt of ``tier`` with ``messages`` and at most ``num_predict``
        completion tokens fits in today's budget; else the reason it is skipped (starting with
        ``"budget"``). A tier without a price has no cost; a ledger that cannot be read fails closed."""
        price = self.price_of(tier)
        if price is None:
            return None
        cap = self.settings.placement.daily_budget_usd
        worst = cost_usd(price, _message_tokens(messages), num_predict)
        try:
            spent = await asyncio.to_thread(self.ledger.spent, utc_day(self._clock()))
        except Exception as exc:  # apsw.Error, OSError: never spend what cannot be counted
            return f"budget: the spend ledger {self.ledger.path} cannot be read ({exc})"
        if spent + worst > cap:
            return (f"budget: today's spend ${spent:.4f} plus up to ${worst:.4f} for this request would pass "
                    f"the daily cap of ${cap:.2f} (placement.daily_budget_usd)")
        return None

    async def charge(self, tier: str, attempt: Attempt, messages: Sequence[Message], text: str) -> float | None:
        """The cost of ``attempt`` on ``tier`` (``None`` without a price), recorded in the ledger.
        Token counts are the server's; a count it did not report is estimated from ``messages``
        (prompt) or ``text`` (answer). An error before any text with no counts (refused: 401, 429,
        unreachable) costs nothing."""
        price = self.price_of(tier)
        if price is None:
            return None
        if attempt.outcome == "error" and attempt.prompt_tokens is None and not text:
            return 0.0
        prompt_tokens = attempt.prompt_tokens if attempt.prompt_tokens is not None else _message_tokens(messages)
        completion = attempt.completion_tokens if attempt.completion_tokens is not None else estimate_tokens(text)
        usd = round(cost_usd(price, prompt_tokens, completion), 8)
        try:
            await asyncio.to_thread(self.ledger.charge, tier, attempt.model, prompt_tokens, completion, usd,
                                    self._clock())
        except Exception as exc:  # apsw.Error, OSError
            log.warning("could not record the cost of %s in %s: %s", tier, self.ledger.path, exc)
        return usd

    async def spent_today(self) -> float | None:
        """Today's spend in US dollars (``None`` when the ledger cannot be read)."""
        try:
            return await asyncio.to_thread(self.ledger.spent, utc_day(self._clock()))
        except Exception:  # apsw.Error, OSError
            return None

    # -- placement ---------------------------------------------------------------------------------
    def _rows(self) -> Sequence[HistoryRow]:
        since = self._clock() - self.settings.placement.history_days * 86400
        source: PlacementHistory = self._history or self.ledger
        return source.placement_rows(since, MAX_HISTORY_ROWS)

    def _learn(self, rows: Sequence[HistoryRow]) -> ThresholdState:
        """The threshold for ``rows``; a move from the last logged value is logged (stderr and ledger)."""
        state = learn_threshold(rows, self.settings.placement)
        changes = self.ledger.threshold_changes(1)
        last = changes[0].new if changes else state.configured
        if abs(state.threshold - last) > 1e-9:
            log.info("placement threshold %.2f -> %.2f: %s", last, state.threshold, state.reason)
            self.ledger.log_threshold(last, state.threshold, state.reason, self._clock())
        return state

    async def place(self, decision: RouteDecision, chain: Sequence[str], request: ComplexityInput
                    ) -> tuple[RouteDecision, list[str], Complexity]:
        """Estimate the complexity of ``request`` (with the team memory when the frontier is on),
        apply ``routing.frontier`` to the routed ``chain`` and return the decision with
        ``complexity``/``placement``/``placement_reason`` set, the tiers to try, and the estimate."""
        mode = self.settings.routing.frontier
        threshold = self.settings.placement.threshold
        if mode != "off":
            try:
                rows = await asyncio.to_thread(self._rows)
                request = replace(request, similar=similar_outcomes(rows, decision.domain, decision.intent))
                if mode == "complex":
                    self.last_state = await asyncio.to_thread(self._learn, rows)
                    threshold = self.last_state.threshold
            except Exception as exc:  # apsw.Error, OSError: place without history
                log.warning("placement history not available (%s): the configured threshold applies", exc)
        complexity = estimate_complexity(request)
        where, tiers, why = place_chain(mode, complexity.score, threshold, chain)
        updated = decision.model_copy(update={
            "complexity": complexity.score, "placement": where, "placement_reason": f"{why}; {complexity.explain()}",
        })
        return updated, tiers, complexity

    async def record(self, complexity: float, decision: RouteDecision, attempts: Sequence[Attempt]) -> None:
        """Feed a finished request back (ledger ``placements``; only when the frontier is on and a
        tier was asked). With a ``history`` (the team memory) nothing is written here: the memory
        records every request with its complexity itself."""
        if self.settings.routing.frontier == "off" or self._history is not None:
            return
        row = history_row(complexity, decision.domain, decision.intent, [(a.tier, a.outcome) for a in attempts],
                          self.settings.is_local, self._clock())
        if row is None:
            return
        try:
            await asyncio.to_thread(self.ledger.record, row)
        except Exception as exc:  # apsw.Error, OSError
            log.warning("could not record the placement outcome in %s: %s", self.ledger.path, exc)

    async def report(self, limit: int = 10) -> PlacementReport:
        """Where placement stands: the threshold (learned now when the mode is ``complex``), its
        bands, the latest ``limit`` moves and today's spend. With the frontier off the ledger is
        not read."""
        placement = self.settings.placement
        mode = self.settings.routing.frontier
        state = self.last_state
        changes: list[ThresholdMove] = []
        spent = None
        if mode != "off":
            try:
                if state is None and mode == "complex":
                    state = self.last_state = await asyncio.to_thread(lambda: self._learn(self._rows()))
                moves = await asyncio.to_thread(self.ledger.threshold_changes, limit)
                changes = [ThresholdMove(at=m.at, old=m.old, new=m.new, reason=m.reason) for m in moves]
            except Exception as exc:  # apsw.Error, OSError
                log.warning("placement ledger not available: %s", exc)
            spent = await self.spent_today()
        if state is None:
            why = ("routing.frontier is off: nothing leaves this machine" if mode == "off"
                   else "the threshold applies only with routing.frontier = 'complex'")
            state = ThresholdState(placement.threshold, placement.threshold, [], why)
        return PlacementReport(mode=mode, threshold=state.threshold, configured=state.configured,
                               threshold_min=placement.threshold_min, threshold_max=placement.threshold_max,
                               reason=state.reason, bands=state.bands, changes=changes, spent_today_usd=spent,
                               daily_budget_usd=placement.daily_budget_usd)
