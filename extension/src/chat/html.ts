/**
 * The chat webview's HTML shell. Model output never reaches this string: it is rendered later by the
 * webview script (markdown-it with raw HTML disabled, then DOMPurify). The Content Security Policy
 * allows only the extension's own script (by nonce) and stylesheet; no inline script or style, no
 * remote images, no frames, no network access.
 */
import { randomBytes } from 'node:crypto';

/** Inputs of {@link chatHtml}. */
export interface ChatHtmlInputs {
  /** `webview.cspSource`. */
  readonly cspSource: string;
  /** A fresh random nonce for this page (see {@link makeNonce}). */
  readonly nonce: string;
  /** `webview.asWebviewUri(...)` of `out/webview/chat.js`, as a string. */
  readonly scriptUri: string;
  /** `webview.asWebviewUri(...)` of `media/chat.css`, as a string. */
  readonly styleUri: string;
}

/** 128 random bits, base64 (the CSP nonce of one page load). */
export function makeNonce(): string {
  return randomBytes(16).toString('base64');
}

/** The Content-Security-Policy of the chat page. */
export function chatCsp(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `img-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    "connect-src 'none'",
    "frame-src 'none'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/** `value` escaped for an HTML attribute (double quotes) or text. */
export function attr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The `<head>` of one of our webview pages: {@link chatCsp}, the viewport, one stylesheet, a title. */
export function pageHead(cspSource: string, nonce: string, styleUri: string, title: string): string {
  return `<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(chatCsp(cspSource, nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attr(styleUri)}">
<title>${attr(title)}</title>
</head>`;
}

/** The complete HTML of the chat view. */
export function chatHtml(inputs: ChatHtmlInputs): string {
  return `<!DOCTYPE html>
<html lang="en">
${pageHead(inputs.cspSource, inputs.nonce, inputs.styleUri, 'Coding Director')}
<body>
<main id="transcript" aria-live="polite"></main>
<section id="composer">
  <div id="chips"></div>
  <div id="context-buttons">
    <button id="add-file" type="button" title="Attach the active file">@file</button>
    <button id="add-selection" type="button" title="Attach the selection in the active editor">@selection</button>
  </div>
  <textarea id="prompt" rows="3" placeholder="Ask Coding Director (Enter to send, Shift+Enter for a new line; @codebase, @file, @symbol)"></textarea>
  <ul id="mentions" hidden></ul>
  <div id="composer-buttons">
    <button id="send" type="button">Send</button>
    <button id="stop" type="button" hidden>Stop</button>
  </div>
</section>
<script nonce="${attr(inputs.nonce)}" src="${attr(inputs.scriptUri)}"></script>
</body>
</html>`;
}
