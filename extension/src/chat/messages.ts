/**
 * Messages between the chat webview and the extension (postMessage). Shared by both bundles; the
 * extension validates what it receives with {@link parseWebviewMessage}.
 */
import type { ChatTurn, ContextChip } from './model';

/** Extension -> webview. */
export type ToWebview =
  | { readonly type: 'state'; readonly turns: readonly ChatTurn[]; readonly chip?: ContextChip; readonly busy: boolean }
  | { readonly type: 'turn'; readonly turn: ChatTurn; readonly busy: boolean }
  | { readonly type: 'chip'; readonly chip?: ContextChip }
  | { readonly type: 'focusPrompt' }
  | { readonly type: 'files'; readonly paths: readonly string[] };

/** Webview -> extension. */
export type FromWebview =
  | { readonly type: 'ready' }
  | { readonly type: 'ask'; readonly prompt: string }
  | { readonly type: 'stop' }
  | { readonly type: 'clear' }
  | { readonly type: 'addFile' }
  | { readonly type: 'addSelection' }
  | { readonly type: 'removeChip' }
  | { readonly type: 'copy'; readonly code: string }
  | { readonly type: 'insert'; readonly code: string; readonly chatId?: string }
  | { readonly type: 'feedback'; readonly chatId: string; readonly kind: 'helpful' | 'unhelpful' }
  | { readonly type: 'regenerate'; readonly chatId: string }
  | { readonly type: 'apply'; readonly code: string; readonly chatId: string }
  | { readonly type: 'openLink'; readonly href: string }
  | { readonly type: 'openSource'; readonly uri: string; readonly startLine: number; readonly endLine: number };

const SIMPLE = new Set(['ready', 'stop', 'clear', 'addFile', 'addSelection', 'removeChip']);

/**
 * Validates a message from the webview (which renders untrusted model output, so its messages are
 * checked like any external input). Returns `undefined` for anything malformed.
 */
export function parseWebviewMessage(raw: unknown): FromWebview | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const m = raw as Record<string, unknown>;
  const type = m.type;
  if (typeof type !== 'string') return undefined;
  if (SIMPLE.has(type)) return { type } as FromWebview;
  const str = (key: string, max: number): string | undefined => {
    const v = m[key];
    return typeof v === 'string' && v.length <= max ? v : undefined;
  };
  switch (type) {
    case 'ask': {
      const prompt = str('prompt', 100_000)?.trim();
      return prompt ? { type, prompt } : undefined;
    }
    case 'copy': {
      const code = str('code', 5_000_000);
      return code !== undefined ? { type, code } : undefined;
    }
    case 'insert': {
      const code = str('code', 5_000_000);
      const chatId = str('chatId', 200);
      return code !== undefined ? { type, code, ...(chatId !== undefined ? { chatId } : {}) } : undefined;
    }
    case 'feedback': {
      const chatId = str('chatId', 200);
      const kind = m.kind;
      return chatId !== undefined && (kind === 'helpful' || kind === 'unhelpful') ? { type, chatId, kind } : undefined;
    }
    case 'regenerate': {
      const chatId = str('chatId', 200);
      return chatId !== undefined ? { type, chatId } : undefined;
    }
    case 'apply': {
      const code = str('code', 5_000_000);
      const chatId = str('chatId', 200);
      return code !== undefined && chatId !== undefined ? { type, code, chatId } : undefined;
    }
    case 'openLink': {
      const href = str('href', 4000);
      return href && /^https?:\/\//i.test(href) ? { type, href } : undefined;
    }
    case 'openSource': {
      const uri = str('uri', 4000);
      const line = (key: string): number | undefined => {
        const v = m[key];
        return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : undefined;
      };
      const startLine = line('startLine');
      const endLine = line('endLine');
      return uri && /^file:\/\//i.test(uri) && startLine !== undefined && endLine !== undefined && endLine >= startLine
        ? { type, uri, startLine, endLine }
        : undefined;
    }
    default:
      return undefined;
  }
}
