/**
 * The chat transcript and how server events change it. Pure (no `vscode`, no DOM): the extension owns
 * the transcript, the webview only renders what it is sent.
 */
import type { Assistance, Attempt, ChatEvent, ChatMessage, RouteDecision, Source, Withheld } from '../protocol';

/** LSP-style range (0-based lines, UTF-16 columns). */
export interface PlainRange {
  readonly start: { readonly line: number; readonly character: number };
  readonly end: { readonly line: number; readonly character: number };
}

/** Code attached to a question: a whole file or a selection. */
export interface ContextChip {
  readonly kind: 'file' | 'selection';
  /** Document URI (`file:///...`). */
  readonly uri: string;
  /** Shown in the chip, e.g. `app.py:3-9`. */
  readonly label: string;
  /** For selections (and for a cursor position: start == end). */
  readonly range?: PlainRange;
}

/** What one tier said during a turn. */
export interface Segment {
  readonly tier: string;
  readonly model?: string;
  readonly text: string;
  readonly outcome?: Attempt['outcome'];
  readonly reason?: string | null;
  readonly latencyMs?: number;
  /** A check stopped this attempt's stream early (`chatEvent.discarded`): its text is never the answer. */
  readonly discarded?: boolean;
}

/** One question and its answer. */
export interface ChatTurn {
  readonly chatId: string;
  readonly prompt: string;
  readonly chip?: ContextChip;
  readonly intent?: string;
  readonly status: 'streaming' | 'done' | 'cancelled' | 'error';
  /** Attempts as they streamed, oldest first. */
  readonly segments: readonly Segment[];
  /** The final answer (from the `codingDirector/chat` result). */
  readonly answer?: string;
  readonly route?: RouteDecision;
  readonly attempts?: readonly Attempt[];
  readonly finalTier?: string | null;
  readonly accepted?: boolean;
  /** Workspace code the team was given (`@codebase`, `@file`, `@symbol`, automatic retrieval). */
  readonly sources?: readonly Source[];
  /** What was kept from the non-local tiers the request went to (files removed, secrets redacted). */
  readonly withheld?: readonly Withheld[];
  /** What the frontier attempts cost, in US dollars (absent when no priced model was asked). */
  readonly costUsd?: number | null;
  /** The request in the server's team memory (feedback refers to it); absent without memory. */
  readonly requestId?: string | null;
  /** The answer came from the server's response cache (no model was called). */
  readonly cached?: boolean;
  /** What the user said about the answer. */
  readonly feedback?: 'helpful' | 'unhelpful';
  /** Why the turn failed (status `error`). */
  readonly error?: string;
}

/** A new, streaming turn. */
export function startTurn(chatId: string, prompt: string, chip?: ContextChip, intent?: string): ChatTurn {
  return { chatId, prompt, chip, intent, status: 'streaming', segments: [] };
}

/**
 * Applies one `codingDirector/chatEvent` to a turn; events for another chat, or arriving after the turn
 * ended (e.g. after Stop), leave it unchanged.
 *
 * - `attemptStarted` opens a new segment (earlier segments stay, for the escalation trail);
 * - `text` appends to the newest segment of that tier (opening one if the server skipped `attemptStarted`);
 * - `attemptFinished` records outcome, reason and latency on the newest segment of that tier.
 */
export function applyChatEvent(turn: ChatTurn, event: ChatEvent): ChatTurn {
  if (event.chatId !== turn.chatId || turn.status !== 'streaming') return turn;
  const segments = [...turn.segments];
  const last = segments[segments.length - 1];
  switch (event.kind) {
    case 'attemptStarted':
      segments.push({ tier: event.tier, model: event.model ?? undefined, text: '' });
      break;
    case 'text':
      if (last?.tier === event.tier && last.outcome === undefined) {
        segments[segments.length - 1] = { ...last, text: last.text + (event.text ?? '') };
      } else {
        segments.push({ tier: event.tier, model: event.model ?? undefined, text: event.text ?? '' });
      }
      break;
    case 'attemptFinished': {
      const index = findLastIndex(segments, (s) => s.tier === event.tier);
      const attempt = event.attempt ?? undefined;
      const base: Segment = segments[index] ?? { tier: event.tier, text: '' };
      const finished: Segment = {
        ...base,
        model: attempt?.model ?? event.model ?? base.model,
        outcome: attempt?.outcome ?? 'accepted',
        reason: attempt?.reason ?? null,
        latencyMs: attempt?.latencyMs,
        discarded: event.discarded === true || attempt?.stoppedEarly === true,
      };
      if (index >= 0) segments[index] = finished;
      else segments.push(finished);
      break;
    }
  }
  return { ...turn, segments };
}

function findLastIndex<T>(items: readonly T[], predicate: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (predicate(items[i] as T)) return i;
  return -1;
}

/** Ends a streaming turn with the request's result. */
export function completeTurn(turn: ChatTurn, result: Assistance): ChatTurn {
  if (turn.status !== 'streaming') return turn;
  return {
    ...turn,
    status: 'done',
    answer: result.answer,
    route: result.route,
    attempts: result.attempts,
    finalTier: result.finalTier,
    accepted: result.accepted,
    sources: result.sources ?? [],
    withheld: result.withheld ?? [],
    costUsd: result.costUsd ?? null,
    requestId: result.requestId,
    cached: result.cached,
  };
}

/** The cost of a finished turn's frontier attempts, such as `$0.0012`, or `undefined` when none was priced. */
export function costLabel(turn: ChatTurn): string | undefined {
  const cost = turn.costUsd;
  if (cost === undefined || cost === null || !Number.isFinite(cost)) return undefined;
  return `$${cost < 0.01 ? cost.toFixed(4) : cost.toFixed(2)}`;
}

/** One line per thing kept from the non-local tiers (`.env: removed (matches '.env*')`), oldest first. */
export function withheldLines(turn: ChatTurn): string[] {
  return (turn.withheld ?? []).map((w) => `${w.source}: ${w.action} (${w.reason})`);
}

/** Records the user's helpful / unhelpful mark on a finished turn (other kinds leave it unchanged). */
export function markFeedback(turn: ChatTurn, kind: string): ChatTurn {
  if (turn.status !== 'done' || (kind !== 'helpful' && kind !== 'unhelpful')) return turn;
  return { ...turn, feedback: kind };
}

/** Ends a streaming turn because the user stopped it (`cancelled`) or the request failed (`error`). */
export function endTurn(turn: ChatTurn, status: 'cancelled' | 'error', error?: string): ChatTurn {
  if (turn.status !== 'streaming') return turn;
  return { ...turn, status, error };
}

/**
 * The markdown to show for a turn: the final answer once done; while streaming (or after Stop) the text
 * of the newest attempt, since earlier attempts' text is discarded when a later tier starts.
 */
export function visibleText(turn: ChatTurn): string {
  if (turn.status === 'done' && turn.answer !== undefined) return turn.answer;
  const last = turn.segments[turn.segments.length - 1];
  return last && !isNotAccepted(last) ? last.text : '';
}

function isNotAccepted(segment: Segment): boolean {
  return segment.outcome !== undefined && segment.outcome !== 'accepted';
}

/** Text an attempt streamed that is not (or no longer) the answer, shown collapsed and struck through. */
export interface DiscardedText {
  readonly tier: string;
  readonly text: string;
  /** `discarded: <reason>`, or `discarded: stopped while streaming: <reason>` for an attempt stopped early. */
  readonly label: string;
  /** The stream was closed by a check before the model finished. */
  readonly stoppedEarly: boolean;
}

/**
 * The discarded texts of a turn, oldest first: every rejected or failed attempt that streamed some
 * text, except the one whose text is the answer (when no tier passed, the server returns the best
 * rejected answer; an attempt stopped early is never that one).
 */
export function discardedTexts(turn: ChatTurn): DiscardedText[] {
  let keep = -1;
  if (turn.status === 'done' && turn.accepted === false && turn.answer) {
    keep = findLastIndex(turn.segments, (s) => s.tier === turn.finalTier && !s.discarded && s.text === turn.answer);
  }
  return turn.segments.flatMap((s, i): DiscardedText[] => {
    if (i === keep || !isNotAccepted(s) || !s.text.trim()) return [];
    const reason = s.reason ?? s.outcome ?? '';
    const label = s.discarded ? `discarded: stopped while streaming: ${reason}` : `discarded: ${reason}`;
    return [{ tier: s.tier, text: s.text, label, stoppedEarly: s.discarded === true }];
  });
}

/** The tier currently speaking (streaming) or whose answer is shown (done), if any. */
export function speakingTier(turn: ChatTurn): string | undefined {
  if (turn.status === 'done') return turn.finalTier ?? undefined;
  return turn.segments[turn.segments.length - 1]?.tier;
}

/** One row of the escalation trail. */
export interface TrailRow {
  readonly tier: string;
  readonly model: string;
  readonly outcome: string;
  readonly reason: string;
  /** The action that removes an error's cause, when the server knows it (e.g. `ollama pull codellama:13b`). */
  readonly fix: string;
  /** Human-readable latency, e.g. `850 ms`, `12.3 s`, or `` when unknown. */
  readonly latency: string;
}

/** Formats a latency in milliseconds: below 1 s as whole ms, otherwise seconds with one decimal. */
export function formatLatency(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * The escalation trail of a turn: the result's attempts once done (they include skipped tiers), otherwise
 * the finished segments so far, then the one still running (`running`).
 */
export function trailRows(turn: ChatTurn): TrailRow[] {
  if (turn.attempts) {
    return turn.attempts.map((a) => ({
      tier: a.tier,
      model: a.model,
      outcome: a.outcome,
      reason: a.reason ?? '',
      fix: a.fix ?? '',
      latency: formatLatency(a.latencyMs),
    }));
  }
  return turn.segments.map((s) => ({
    tier: s.tier,
    model: s.model ?? '',
    outcome: s.outcome ?? (turn.status === 'streaming' ? 'running' : turn.status === 'cancelled' ? 'stopped' : turn.status),
    reason: s.reason ?? '',
    fix: '',
    latency: formatLatency(s.latencyMs),
  }));
}

/** A short route label such as `general · explain`, or `undefined` before the result arrives. */
export function routeLabel(turn: ChatTurn): string | undefined {
  return turn.route ? `${turn.route.domain} · ${turn.route.intent}` : undefined;
}

/**
 * Earlier conversation to send with a new question: the prompts and answers of the last `maxTurns`
 * finished turns, oldest first.
 */
export function historyFor(turns: readonly ChatTurn[], maxTurns = 6): ChatMessage[] {
  const done = turns.filter((t) => t.status === 'done' && t.answer);
  return done.slice(-maxTurns).flatMap((t): ChatMessage[] => [
    { role: 'user', content: t.prompt },
    { role: 'assistant', content: t.answer ?? '' },
  ]);
}

/**
 * A transcript restored from workspace storage: keeps the newest `max` turns; a turn that was still
 * streaming when VS Code closed is marked cancelled.
 */
export function restoreTurns(stored: unknown, max = 50): ChatTurn[] {
  if (!Array.isArray(stored)) return [];
  return stored
    .filter((t): t is ChatTurn => typeof t === 'object' && t !== null && typeof (t as ChatTurn).chatId === 'string' && typeof (t as ChatTurn).prompt === 'string' && Array.isArray((t as ChatTurn).segments))
    .slice(-max)
    .map((t) => (t.status === 'streaming' ? { ...t, status: 'cancelled' as const } : t));
}

/** Label of a chip for a range in a file: `name.py` (whole file), `name.py:4` or `name.py:4-9` (1-based lines). */
export function chipLabel(fileName: string, range?: PlainRange): string {
  if (!range) return fileName;
  const first = range.start.line + 1;
  // A selection ending at column 0 does not include that line.
  const lastLine = range.end.character === 0 && range.end.line > range.start.line ? range.end.line : range.end.line + 1;
  return first === lastLine ? `${fileName}:${first}` : `${fileName}:${first}-${lastLine}`;
}
