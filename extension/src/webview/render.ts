/**
 * Markdown -> safe HTML for the chat webview: markdown-it (raw HTML disabled, so `<script>` in model
 * output is shown as text) with highlight.js for code fences, then DOMPurify as a second, independent
 * barrier. Runs in the webview, and in unit tests on a jsdom window.
 */
import createDOMPurify, { type Config, type WindowLike } from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import plaintext from 'highlight.js/lib/languages/plaintext';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import shell from 'highlight.js/lib/languages/shell';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import MarkdownIt from 'markdown-it';

const LANGUAGES = { bash, c, cpp, css, diff, go, java, javascript, json, markdown, plaintext, python, rust, shell, sql, typescript, xml, yaml };
for (const [name, language] of Object.entries(LANGUAGES)) {
  if (!hljs.getLanguage(name)) hljs.registerLanguage(name, language);
}

/**
 * DOMPurify configuration: HTML only (no SVG/MathML), no forms, frames, media, images or inline styles,
 * no `data-*` attributes. Only the tags markdown-it produces survive.
 */
export const PURIFY_CONFIG: Config = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'option', 'iframe', 'frame', 'object', 'embed', 'img', 'video', 'audio', 'source', 'picture', 'link', 'meta', 'base', 'svg', 'math'],
  FORBID_ATTR: ['style', 'srcset', 'action', 'formaction', 'background'],
  ALLOW_DATA_ATTR: false,
  ALLOW_UNKNOWN_PROTOCOLS: false,
};

/** Turns markdown into sanitised HTML. */
export interface MarkdownRenderer {
  /** Markdown (untrusted model output) -> HTML safe to assign to `innerHTML`. */
  render(markdown: string): string;
  /** The sanitiser alone, for HTML from any other source. */
  sanitize(html: string): string;
}

/**
 * Creates a renderer bound to `window` (the webview's, or a jsdom window in tests).
 *
 * Links keep only `http:`, `https:` and `mailto:` targets (markdown-it's `validateLink` already drops
 * `javascript:`, `vbscript:`, `file:` and most `data:` URLs; DOMPurify re-checks) and get
 * `rel="noopener noreferrer"`; the webview opens them through the extension.
 */
export function createMarkdownRenderer(window: WindowLike): MarkdownRenderer {
  const purify = createDOMPurify(window);
  purify.addHook('afterSanitizeAttributes', (node) => {
    if (node.nodeName === 'A') {
      const href = node.getAttribute('href') ?? '';
      if (!/^(https?:|mailto:|#)/i.test(href)) node.removeAttribute('href');
      node.setAttribute('rel', 'noopener noreferrer');
    }
  });
  const md: MarkdownIt = new MarkdownIt({
    html: false,
    linkify: true,
    breaks: false,
    typographer: false,
    highlight(code: string, lang: string): string {
      const language = lang.trim().toLowerCase();
      if (language && hljs.getLanguage(language)) {
        return hljs.highlight(code, { language, ignoreIllegals: true }).value;
      }
      return ''; // markdown-it escapes the code itself
    },
  });
  const sanitize = (html: string): string => purify.sanitize(html, PURIFY_CONFIG);
  return {
    sanitize,
    render: (markdown: string): string => sanitize(md.render(markdown)),
  };
}
