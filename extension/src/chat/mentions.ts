/**
 * Completion of `@codebase`, `@file PATH` and `@symbol NAME` mentions in the chat prompt (the server
 * resolves them; see `server/coding_director/features/knowledge.py`). Pure functions shared by the
 * webview and the tests.
 */

/** The mention keywords, as typed after `@`. */
export const MENTIONS = ['codebase', 'file', 'symbol'] as const;

/** What can be inserted at the caret: `replaceFrom` is the offset where the typed word starts. */
export interface MentionCompletion {
  readonly replaceFrom: number;
  readonly items: readonly string[];
}

/**
 * Completions for the word before `caret` in `text`: mention keywords after a lone `@`
 * (`@co` -> `@codebase `), workspace paths after `@file ` (substring match, at most `limit`).
 * Returns `undefined` when the caret is not in a mention.
 */
export function mentionCompletions(text: string, caret: number, files: readonly string[], limit = 8): MentionCompletion | undefined {
  const before = text.slice(0, caret);
  const keyword = /(^|\s)@(\w*)$/.exec(before);
  if (keyword) {
    const typed = keyword[2] ?? '';
    const items = MENTIONS.filter((m) => m.startsWith(typed.toLowerCase())).map((m) => `@${m} `);
    return items.length ? { replaceFrom: caret - typed.length - 1, items } : undefined;
  }
  const file = /(^|\s)@file\s+(\S*)$/.exec(before);
  if (file) {
    const typed = (file[2] ?? '').toLowerCase();
    const items = files.filter((f) => f.toLowerCase().includes(typed)).slice(0, limit).map((f) => `${f} `);
    return items.length ? { replaceFrom: caret - (file[2] ?? '').length, items } : undefined;
  }
  return undefined;
}

/** `text` with the completion `item` inserted at `completion.replaceFrom..caret`; the new caret. */
export function applyCompletion(text: string, caret: number, completion: MentionCompletion, item: string): { text: string; caret: number } {
  const next = text.slice(0, completion.replaceFrom) + item + text.slice(caret);
  return { text: next, caret: completion.replaceFrom + item.length };
}
