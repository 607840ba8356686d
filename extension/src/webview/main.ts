/**
 * The chat webview script (bundled separately, runs in the webview's sandboxed iframe).
 *
 * Everything the extension sends is rendered with DOM APIs and `textContent`; the only `innerHTML`
 * assignment takes the output of the markdown renderer (markdown-it without raw HTML, then DOMPurify).
 */
import type { ChatTurn, ContextChip } from '../chat/model';
import { costLabel, discardedTexts, routeLabel, speakingTier, trailRows, visibleText, withheldLines } from '../chat/model';
import type { FromWebview, ToWebview } from '../chat/messages';
import type { MentionCompletion } from '../chat/mentions';
import { applyCompletion, mentionCompletions } from '../chat/mentions';
import { createMarkdownRenderer } from './render';

interface VsCodeApi {
  postMessage(message: FromWebview): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const renderer = createMarkdownRenderer(window);

function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`missing #${id}`);
  return element;
}

const transcript = byId('transcript');
const promptBox = byId('prompt') as HTMLTextAreaElement;
const sendButton = byId('send') as HTMLButtonElement;
const stopButton = byId('stop') as HTMLButtonElement;
const chips = byId('chips');

const turnElements = new Map<string, HTMLElement>();
const pending = new Map<string, ChatTurn>();
let frameRequested = false;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

function button(label: string, action: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', 'code-button', label);
  b.type = 'button';
  b.dataset.action = action;
  b.addEventListener('click', onClick);
  return b;
}

/** Adds Copy / Insert / Apply buttons above every code block of a rendered answer. */
function decorateCodeBlocks(container: HTMLElement, chatId: string, final: boolean): void {
  for (const pre of Array.from(container.querySelectorAll('pre'))) {
    const code = pre.querySelector('code');
    const text = (): string => (code ?? pre).textContent;
    const bar = el('div', 'code-actions');
    bar.append(button('Copy', 'copy', () => vscode.postMessage({ type: 'copy', code: text() })));
    if (final) {
      bar.append(button('Insert', 'insert', () => vscode.postMessage({ type: 'insert', code: text(), chatId })));
      bar.append(button('Apply', 'apply', () => vscode.postMessage({ type: 'apply', code: text(), chatId })));
    }
    const wrapper = el('div', 'code-block');
    pre.replaceWith(wrapper);
    wrapper.append(bar, pre);
  }
}

function renderTrail(turn: ChatTurn): HTMLElement | undefined {
  const rows = trailRows(turn);
  if (rows.length === 0) return undefined;
  const details = el('details', 'trail');
  const escalations = rows.filter((r) => r.outcome === 'rejected' || r.outcome === 'error' || r.outcome === 'skipped').length;
  details.append(el('summary', undefined, `Escalation trail: ${rows.length} attempt${rows.length === 1 ? '' : 's'}${escalations ? `, ${escalations} not accepted` : ''}`));
  const table = el('table');
  const head = el('tr');
  for (const h of ['Tier', 'Model', 'Outcome', 'Reason', 'Latency']) head.append(el('th', undefined, h));
  table.append(head);
  for (const r of rows) {
    const tr = el('tr', `outcome-${r.outcome}`);
    for (const v of [r.tier, r.model, r.outcome, r.fix ? `${r.reason} (fix: ${r.fix})` : r.reason, r.latency]) tr.append(el('td', undefined, v));
    table.append(tr);
  }
  details.append(table);
  return details;
}

/** "Sources": one link per retrieved snippet (`path:start-end`), opening the file at that range. */
function renderSources(turn: ChatTurn): HTMLElement | undefined {
  if (turn.status !== 'done' || !turn.sources || turn.sources.length === 0) return undefined;
  const box = el('div', 'sources');
  box.append(el('span', 'sources-title', 'Sources: '));
  for (const source of turn.sources) {
    const link = el('a', 'source-link', `${source.path}:${source.startLine}-${source.endLine}`);
    link.setAttribute('href', '#');
    link.title = `Open ${source.path} at line ${source.startLine}`;
    link.addEventListener('click', (event) => {
      event.preventDefault();
      if (source.uri) vscode.postMessage({ type: 'openSource', uri: source.uri, startLine: source.startLine, endLine: source.endLine });
    });
    box.append(link);
  }
  return box;
}

/** Helpful / Unhelpful (team memory; only for answers the server recorded) and Regenerate (bypasses the cache). */
function renderFeedbackBar(turn: ChatTurn): HTMLElement {
  const bar = el('div', 'feedback-actions');
  if (turn.requestId) {
    for (const kind of ['helpful', 'unhelpful'] as const) {
      const b = button(kind === 'helpful' ? 'Helpful' : 'Unhelpful', kind, () => vscode.postMessage({ type: 'feedback', chatId: turn.chatId, kind }));
      if (turn.feedback === kind) b.classList.add('chosen');
      b.setAttribute('aria-pressed', String(turn.feedback === kind));
      bar.append(b);
    }
  }
  bar.append(button('Regenerate', 'regenerate', () => vscode.postMessage({ type: 'regenerate', chatId: turn.chatId })));
  return bar;
}

function renderTurn(turn: ChatTurn): HTMLElement {
  const root = el('article', `turn status-${turn.status}`);
  root.dataset.chatId = turn.chatId;

  const question = el('div', 'question');
  question.append(el('div', 'prompt-text', turn.prompt));
  if (turn.chip) question.append(el('span', 'chip static', turn.chip.label));
  root.append(question);

  const meta = el('div', 'meta');
  const tier = speakingTier(turn);
  if (tier) {
    const badge = el('span', `tier-badge${turn.status === 'done' && turn.accepted === false ? ' not-accepted' : ''}`, tier);
    badge.title = turn.status === 'done' ? `Answered by the ${tier} tier` : `The ${tier} tier is answering`;
    meta.append(badge);
  }
  const route = routeLabel(turn);
  if (route) meta.append(el('span', 'route-badge', route));
  const cost = costLabel(turn);
  if (cost) {
    const badge = el('span', 'cost-badge', cost);
    badge.title = 'What the frontier tier cost for this answer';
    meta.append(badge);
  }
  if (turn.status === 'done' && turn.cached) {
    const cached = el('span', 'state-badge cached', 'cached');
    cached.title = 'Served from the team memory\'s response cache: no model was called. Regenerate asks the team again.';
    meta.append(cached);
  }
  if (turn.status === 'streaming') meta.append(el('span', 'state-badge streaming', 'answering…'));
  if (turn.status === 'cancelled') meta.append(el('span', 'state-badge cancelled', 'stopped'));
  if (turn.status === 'done' && turn.accepted === false) meta.append(el('span', 'state-badge warn', 'no tier passed every check'));
  root.append(meta);

  // Earlier attempts that failed without text: the reason is shown.
  if (turn.status === 'streaming') {
    for (const s of turn.segments.slice(0, -1)) {
      if (s.outcome && s.outcome !== 'accepted' && !s.text.trim()) {
        root.append(el('div', 'escalation-note', `${s.tier} ${s.outcome}${s.reason ? `: ${s.reason}` : ''}; escalating`));
      }
    }
  }
  // Text that was streamed and then rejected is kept, collapsed and struck through, with its reason.
  for (const d of discardedTexts(turn)) {
    const details = el('details', `discarded${d.stoppedEarly ? ' stopped-early' : ''}`);
    details.dataset.tier = d.tier;
    details.append(el('summary', undefined, `${d.tier}: ${d.label}`));
    const pre = el('pre', 'discarded-text');
    pre.append(el('del', undefined, d.text));
    details.append(pre);
    root.append(details);
  }

  const answer = el('div', 'answer markdown-body');
  answer.innerHTML = renderer.render(visibleText(turn));
  decorateCodeBlocks(answer, turn.chatId, turn.status === 'done');
  root.append(answer);

  if (turn.status === 'error') root.append(el('div', 'error', turn.error ?? 'The request failed.'));
  if (turn.status === 'done' && !turn.answer) root.append(el('div', 'error', 'No tier produced an answer; the escalation trail says why.'));
  const withheld = withheldLines(turn);
  if (withheld.length) {
    const note = el('div', 'withheld-note');
    note.append(el('div', 'withheld-title', 'Withheld from the non-local tier (local tiers got everything):'));
    for (const line of withheld) note.append(el('div', 'withheld-line', line));
    root.append(note);
  }
  const sources = renderSources(turn);
  if (sources) root.append(sources);
  const trail = renderTrail(turn);
  if (trail) root.append(trail);
  if (turn.status === 'done') root.append(renderFeedbackBar(turn));
  return root;
}

function upsertTurn(turn: ChatTurn): void {
  const stickToBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
  const fresh = renderTurn(turn);
  const existing = turnElements.get(turn.chatId);
  const wasOpen = existing?.querySelector('details.trail')?.hasAttribute('open') ?? false;
  if (wasOpen) fresh.querySelector('details.trail')?.setAttribute('open', '');
  const discarded = (root: Element | undefined): Element[] => Array.from(root?.querySelectorAll('details.discarded') ?? []);
  const freshDiscarded = discarded(fresh);
  discarded(existing).forEach((d, i) => {
    if (d.hasAttribute('open')) freshDiscarded[i]?.setAttribute('open', '');
  });
  if (existing) existing.replaceWith(fresh);
  else transcript.append(fresh);
  turnElements.set(turn.chatId, fresh);
  if (stickToBottom) transcript.scrollTop = transcript.scrollHeight;
}

/** Streaming sends many updates; render at most once per animation frame. */
function scheduleTurn(turn: ChatTurn): void {
  pending.set(turn.chatId, turn);
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    for (const t of pending.values()) upsertTurn(t);
    pending.clear();
  });
}

function setBusy(busy: boolean): void {
  stopButton.hidden = !busy;
  sendButton.disabled = busy;
  document.body.classList.toggle('busy', busy);
}

function setChip(chip: ContextChip | undefined): void {
  chips.replaceChildren();
  if (!chip) return;
  const c = el('span', `chip ${chip.kind}`);
  c.append(el('span', 'chip-label', `${chip.kind === 'file' ? '@' : '§'} ${chip.label}`));
  const remove = el('button', 'chip-remove', '×');
  remove.type = 'button';
  remove.title = 'Remove';
  remove.addEventListener('click', () => vscode.postMessage({ type: 'removeChip' }));
  c.append(remove);
  chips.append(c);
}

window.addEventListener('message', (event: MessageEvent<ToWebview>) => {
  const message = event.data;
  switch (message.type) {
    case 'state':
      transcript.replaceChildren();
      turnElements.clear();
      pending.clear();
      for (const turn of message.turns) upsertTurn(turn);
      setChip(message.chip);
      setBusy(message.busy);
      break;
    case 'turn':
      scheduleTurn(message.turn);
      setBusy(message.busy);
      break;
    case 'chip':
      setChip(message.chip);
      break;
    case 'focusPrompt':
      promptBox.focus();
      break;
    case 'files':
      workspaceFiles = message.paths;
      break;
  }
});

function send(): void {
  const prompt = promptBox.value.trim();
  if (!prompt || sendButton.disabled) return;
  vscode.postMessage({ type: 'ask', prompt });
  promptBox.value = '';
}

sendButton.addEventListener('click', send);
stopButton.addEventListener('click', () => vscode.postMessage({ type: 'stop' }));
byId('add-file').addEventListener('click', () => vscode.postMessage({ type: 'addFile' }));
byId('add-selection').addEventListener('click', () => vscode.postMessage({ type: 'addSelection' }));
// -- @-mention completion (Tab or a click accepts the first / the clicked suggestion) ----------
let workspaceFiles: readonly string[] = [];
const mentionList = byId('mentions');
let currentCompletion: MentionCompletion | undefined;

function accept(item: string): void {
  if (!currentCompletion) return;
  const next = applyCompletion(promptBox.value, promptBox.selectionStart, currentCompletion, item);
  promptBox.value = next.text;
  promptBox.setSelectionRange(next.caret, next.caret);
  promptBox.focus();
  updateMentions();
}

function updateMentions(): void {
  currentCompletion = mentionCompletions(promptBox.value, promptBox.selectionStart, workspaceFiles);
  mentionList.replaceChildren();
  mentionList.hidden = !currentCompletion;
  for (const item of currentCompletion?.items ?? []) {
    const li = el('li', 'mention', item.trim());
    li.addEventListener('mousedown', (event) => {
      event.preventDefault();
      accept(item);
    });
    mentionList.append(li);
  }
}

promptBox.addEventListener('input', updateMentions);
promptBox.addEventListener('blur', () => {
  mentionList.hidden = true;
});
promptBox.addEventListener('keydown', (event) => {
  if (event.key === 'Tab' && currentCompletion && !mentionList.hidden) {
    event.preventDefault();
    accept(currentCompletion.items[0] ?? '');
    return;
  }
  if (event.key === 'Escape' && !mentionList.hidden) {
    mentionList.hidden = true;
    return;
  }
});
promptBox.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});
// Links in answers open through the extension (http/https only), never inside the webview.
transcript.addEventListener('click', (event) => {
  const target = event.target instanceof Element ? event.target.closest('a') : null;
  if (!target) return;
  event.preventDefault();
  const href = target.getAttribute('href');
  if (href && /^https?:\/\//i.test(href)) vscode.postMessage({ type: 'openLink', href });
});

vscode.postMessage({ type: 'ready' });
