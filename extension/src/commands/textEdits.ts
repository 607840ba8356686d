/** Pure text-edit helpers (offsets are UTF-16 code unit indexes into the document text). */

/** A replacement of `[start, end)` with `newText`. */
export interface OffsetEdit {
  readonly start: number;
  readonly end: number;
  readonly newText: string;
}

/**
 * Applies non-overlapping edits to `text` (in any order); the result is what the document will contain.
 *
 * @throws RangeError when an edit is out of bounds or two edits overlap.
 */
export function applyOffsetEdits(text: string, edits: readonly OffsetEdit[]): string {
  const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
  let result = '';
  let cursor = 0;
  for (const edit of sorted) {
    if (edit.start < cursor || edit.end < edit.start || edit.end > text.length) {
      throw new RangeError(`edit [${edit.start}, ${edit.end}) overlaps another edit or lies outside the text`);
    }
    result += text.slice(cursor, edit.start) + edit.newText;
    cursor = edit.end;
  }
  return result + text.slice(cursor);
}

/** Where an Apply from the chat lands: the asked-about range, else the editor's selection, else the whole file. */
export type ApplyTarget<R> = { readonly kind: 'range'; readonly range: R } | { readonly kind: 'wholeFile' };

/**
 * Chooses the target of "Apply" for a code block.
 *
 * @param chipRange - the range the question was about, if it was about a selection in the same document.
 * @param selection - the active editor's selection and whether it is empty.
 */
export function chooseApplyTarget<R>(chipRange: R | undefined, selection: { readonly range: R; readonly isEmpty: boolean } | undefined): ApplyTarget<R> {
  if (chipRange !== undefined) return { kind: 'range', range: chipRange };
  if (selection && !selection.isEmpty) return { kind: 'range', range: selection.range };
  return { kind: 'wholeFile' };
}

/** Which server code action a context-menu command wants. */
export type ActionWanted = 'fix' | 'explain' | 'docstring' | 'tests';

const PATTERNS: Record<ActionWanted, RegExp> = {
  fix: /\bfix/i,
  explain: /\bexplain/i,
  docstring: /docstring|\bdocument/i,
  tests: /\btests?\b/i,
};

/**
 * Picks the server's code action for a command among those returned by `textDocument/codeAction`:
 * the first whose title (or kind) matches the wanted action, preferring ones that name Coding Director.
 *
 * @returns the index in `actions`, or -1 when none matches.
 */
export function pickServerAction(actions: readonly { readonly title: string; readonly kind?: string }[], wanted: ActionWanted): number {
  const pattern = PATTERNS[wanted];
  const matches = actions.map((a, i) => ({ a, i })).filter(({ a }) => pattern.test(a.title) || pattern.test(a.kind ?? ''));
  const preferred = matches.find(({ a }) => /coding\s*director/i.test(a.title) || /codingDirector/i.test(a.kind ?? ''));
  return (preferred ?? matches[0])?.i ?? -1;
}

/**
 * Adjusts a code block's trailing newline to the text it replaces: code blocks from markdown end with
 * a newline, a selection often does not (and a whole file usually does).
 */
export function fitTrailingNewline(code: string, replaced: string): string {
  const codeHas = code.endsWith('\n');
  const replacedHas = replaced.endsWith('\n');
  if (codeHas && !replacedHas) return code.slice(0, -1);
  if (!codeHas && replacedHas) return `${code}\n`;
  return code;
}

/** JSON-RPC / LSP error codes that mean "the user or the editor cancelled": no message for those. */
const CANCELLED_CODES = new Set([-32800 /* RequestCancelled */, -32802 /* ServerCancelled */]);

/**
 * The one notification text for a failed action (`title`: "Fix", "Add docstring"...), or `undefined`
 * when the action was cancelled (a vscode `CancellationError`, or a response with a cancellation code).
 * A server error response (e.g. LSP `RequestFailed` -32803: no tier produced a usable fix, with
 * every tier's reason) is shown with its message, which the server writes for the user.
 */
export function actionFailureMessage(title: string, error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  if (typeof code === 'number' && CANCELLED_CODES.has(code)) return undefined;
  if (error instanceof Error && error.name === 'Canceled') return undefined;
  const message = error instanceof Error ? error.message : String(error);
  return `Coding Director: ${title} failed: ${message}`;
}
