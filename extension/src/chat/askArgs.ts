/** Validation of the `codingDirector.askInChat` argument (a ChatParams-shaped object without `chatId`). */
import type { ChatParams } from '../protocol';

/** `ChatParams` minus the client-assigned `chatId`. */
export type AskRequest = Omit<ChatParams, 'chatId'>;

const INTENTS = new Set(['explain', 'fix', 'generate', 'test', 'docs', 'refactor', 'review', 'complete', 'question']);

function isPosition(v: unknown): v is { line: number; character: number } {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return Number.isInteger(p.line) && Number.isInteger(p.character) && (p.line as number) >= 0 && (p.character as number) >= 0;
}

/**
 * Checks a command argument (it may come from a server code action or another extension).
 *
 * @returns the request, or an error message naming the bad field.
 */
export function parseAskArgs(raw: unknown): { ok: true; request: AskRequest } | { ok: false; error: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, error: 'expected one object argument' };
  const a = raw as Record<string, unknown>;
  if (typeof a.prompt !== 'string' || a.prompt.trim() === '') return { ok: false, error: 'prompt: expected a non-empty string' };
  const request: { -readonly [K in keyof AskRequest]: AskRequest[K] } = { prompt: a.prompt };
  if (a.textDocument !== undefined && a.textDocument !== null) {
    const td = a.textDocument as Record<string, unknown>;
    if (typeof td !== 'object' || typeof td.uri !== 'string') return { ok: false, error: 'textDocument.uri: expected a string' };
    request.textDocument = { uri: td.uri };
  }
  if (a.range !== undefined && a.range !== null) {
    const r = a.range as Record<string, unknown>;
    if (typeof r !== 'object' || !isPosition(r.start) || !isPosition(r.end)) return { ok: false, error: 'range: expected {start, end} positions' };
    request.range = { start: { line: r.start.line, character: r.start.character }, end: { line: r.end.line, character: r.end.character } };
  }
  if (a.intent !== undefined && a.intent !== null) {
    if (typeof a.intent !== 'string' || !INTENTS.has(a.intent)) return { ok: false, error: `intent: unknown intent ${JSON.stringify(a.intent)}` };
    request.intent = a.intent as AskRequest['intent'];
  }
  if (Array.isArray(a.history)) {
    request.history = (a.history as unknown[]).filter((m): m is { role: 'user' | 'assistant'; content: string } => {
      if (typeof m !== 'object' || m === null) return false;
      const message = m as Record<string, unknown>;
      return (message.role === 'user' || message.role === 'assistant') && typeof message.content === 'string';
    });
  }
  return { ok: true, request };
}
