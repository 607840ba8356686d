import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAskArgs } from '../src/chat/askArgs';
import { chatCsp, chatHtml } from '../src/chat/html';
import { parseWebviewMessage } from '../src/chat/messages';
import { actionFailureMessage, applyOffsetEdits, chooseApplyTarget, fitTrailingNewline, pickServerAction } from '../src/commands/textEdits';
import { RestartBudget } from '../src/server/restartPolicy';

describe('RestartBudget', () => {
  test('allows N restarts per sliding window, then refuses until old ones expire', () => {
    const budget = new RestartBudget(2, 1000);
    assert.equal(budget.tryRestart(0), true);
    assert.equal(budget.tryRestart(10), true);
    assert.equal(budget.tryRestart(20), false);
    assert.equal(budget.tryRestart(999), false);
    assert.equal(budget.tryRestart(1000), true); // the one at 0 left the window
    assert.equal(budget.tryRestart(1005), false);
    budget.reset();
    assert.equal(budget.tryRestart(1006), true);
  });
});

describe('text edits', () => {
  test('applies edits in any order and rejects overlaps', () => {
    assert.equal(applyOffsetEdits('hello world', [{ start: 6, end: 11, newText: 'there' }, { start: 0, end: 5, newText: 'HI' }]), 'HI there');
    assert.equal(applyOffsetEdits('abc', [{ start: 3, end: 3, newText: 'd' }]), 'abcd');
    assert.throws(() => applyOffsetEdits('abc', [{ start: 0, end: 2, newText: '' }, { start: 1, end: 3, newText: '' }]), RangeError);
    assert.throws(() => applyOffsetEdits('abc', [{ start: 2, end: 9, newText: '' }]), RangeError);
  });

  test('apply target: asked-about range, else selection, else whole file', () => {
    assert.deepEqual(chooseApplyTarget('chip', { range: 'sel', isEmpty: false }), { kind: 'range', range: 'chip' });
    assert.deepEqual(chooseApplyTarget(undefined, { range: 'sel', isEmpty: false }), { kind: 'range', range: 'sel' });
    assert.deepEqual(chooseApplyTarget(undefined, { range: 'sel', isEmpty: true }), { kind: 'wholeFile' });
    assert.deepEqual(chooseApplyTarget(undefined, undefined), { kind: 'wholeFile' });
  });

  test('trailing newline follows the replaced text', () => {
    assert.equal(fitTrailingNewline('x = 1\n', 'y = 2'), 'x = 1');
    assert.equal(fitTrailingNewline('x = 1', 'y = 2\n'), 'x = 1\n');
    assert.equal(fitTrailingNewline('x\n', 'y\n'), 'x\n');
  });

  test('picks the server action by title, preferring Coding Director ones', () => {
    const actions = [
      { title: 'Organize imports', kind: 'source.organizeImports' },
      { title: 'Fix all (ruff)', kind: 'source.fixAll' },
      { title: 'Fix with Coding Director', kind: 'quickfix' },
      { title: 'Explain with Coding Director', kind: 'refactor' },
      { title: 'Add docstring', kind: 'refactor.rewrite' },
      { title: 'Generate tests', kind: 'source' },
    ];
    assert.equal(pickServerAction(actions, 'fix'), 2);
    assert.equal(pickServerAction(actions, 'explain'), 3);
    assert.equal(pickServerAction(actions, 'docstring'), 4);
    assert.equal(pickServerAction(actions, 'tests'), 5);
    assert.equal(pickServerAction([{ title: 'Rename' }], 'fix'), -1);
    assert.equal(pickServerAction([{ title: 'x', kind: 'quickfix.codingDirector.fix' }], 'fix'), 0);
  });
});

describe('askInChat argument', () => {
  test('accepts a ChatParams-shaped object without chatId', () => {
    const parsed = parseAskArgs({
      prompt: 'Explain',
      textDocument: { uri: 'file:///a.py' },
      range: { start: { line: 1, character: 0 }, end: { line: 3, character: 4 } },
      intent: 'explain',
      history: [{ role: 'user', content: 'q' }, { role: 'system', content: 'dropped' }],
    });
    assert.deepEqual(parsed, {
      ok: true,
      request: {
        prompt: 'Explain',
        textDocument: { uri: 'file:///a.py' },
        range: { start: { line: 1, character: 0 }, end: { line: 3, character: 4 } },
        intent: 'explain',
        history: [{ role: 'user', content: 'q' }],
      },
    });
  });

  test('rejects bad arguments by field', () => {
    assert.deepEqual(parseAskArgs(undefined), { ok: false, error: 'expected one object argument' });
    assert.match((parseAskArgs({ prompt: '' }) as { error: string }).error, /^prompt/);
    assert.match((parseAskArgs({ prompt: 'x', intent: 'dance' }) as { error: string }).error, /^intent/);
    assert.match((parseAskArgs({ prompt: 'x', range: { start: { line: -1, character: 0 }, end: {} } }) as { error: string }).error, /^range/);
  });
});

describe('webview messages', () => {
  test('accepts well-formed messages only', () => {
    assert.deepEqual(parseWebviewMessage({ type: 'ask', prompt: '  hi ' }), { type: 'ask', prompt: 'hi' });
    assert.deepEqual(parseWebviewMessage({ type: 'stop', extra: 1 }), { type: 'stop' });
    assert.deepEqual(parseWebviewMessage({ type: 'apply', code: 'x', chatId: 'c' }), { type: 'apply', code: 'x', chatId: 'c' });
    assert.equal(parseWebviewMessage({ type: 'ask', prompt: '   ' }), undefined);
    assert.equal(parseWebviewMessage({ type: 'apply', code: 'x' }), undefined);
    assert.equal(parseWebviewMessage({ type: 'runCommand', command: 'x' }), undefined);
    assert.equal(parseWebviewMessage('stop'), undefined);
  });

  test('feedback and regenerate messages name their chat; unknown kinds are refused', () => {
    assert.deepEqual(parseWebviewMessage({ type: 'feedback', chatId: 'c', kind: 'unhelpful' }), { type: 'feedback', chatId: 'c', kind: 'unhelpful' });
    assert.equal(parseWebviewMessage({ type: 'feedback', chatId: 'c', kind: 'undone' }), undefined);
    assert.deepEqual(parseWebviewMessage({ type: 'regenerate', chatId: 'c' }), { type: 'regenerate', chatId: 'c' });
    assert.equal(parseWebviewMessage({ type: 'regenerate' }), undefined);
    assert.deepEqual(parseWebviewMessage({ type: 'insert', code: 'x', chatId: 'c' }), { type: 'insert', code: 'x', chatId: 'c' });
    assert.deepEqual(parseWebviewMessage({ type: 'insert', code: 'x' }), { type: 'insert', code: 'x' });
  });

  test('links open only over http(s)', () => {
    assert.deepEqual(parseWebviewMessage({ type: 'openLink', href: 'https://example.com' }), { type: 'openLink', href: 'https://example.com' });
    assert.equal(parseWebviewMessage({ type: 'openLink', href: 'command:workbench.action.terminal.new' }), undefined);
    assert.equal(parseWebviewMessage({ type: 'openLink', href: 'file:///etc/passwd' }), undefined);
  });

  test('source links carry a file URI and a 1-based line range', () => {
    const ok = { type: 'openSource', uri: 'file:///ws/app/billing.py', startLine: 6, endLine: 8 };
    assert.deepEqual(parseWebviewMessage(ok), ok);
    assert.equal(parseWebviewMessage({ ...ok, uri: 'command:workbench.action.terminal.new' }), undefined);
    assert.equal(parseWebviewMessage({ ...ok, startLine: 0 }), undefined);
    assert.equal(parseWebviewMessage({ ...ok, startLine: 9 }), undefined);
    assert.equal(parseWebviewMessage({ ...ok, endLine: '8' }), undefined);
  });
});

describe('chat HTML shell', () => {
  test('strict CSP: nonce-only scripts, no inline styles, nothing remote', () => {
    const csp = chatCsp('vscode-resource:', 'N0nce');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-N0nce'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*|https?:/);
  });

  test('the only script carries the nonce', () => {
    const html = chatHtml({ cspSource: 'vscode-resource:', nonce: 'abc', scriptUri: 'vscode-resource:/chat.js', styleUri: 'vscode-resource:/chat.css' });
    const scripts = html.match(/<script\b[^>]*>/g) ?? [];
    assert.deepEqual(scripts, ['<script nonce="abc" src="vscode-resource:/chat.js">']);
    assert.doesNotMatch(html, /style="/);
    assert.match(html, /id="stop"/);
  });
});

describe('actionFailureMessage', () => {
  test('shows the server\'s reason for a failed action', () => {
    const error = Object.assign(new Error('no tier produced a fix that keeps the file parseable (lead: no code block in the answer)'), { code: -32803 });
    assert.equal(
      actionFailureMessage('Fix', error),
      'Coding Director: Fix failed: no tier produced a fix that keeps the file parseable (lead: no code block in the answer)',
    );
    assert.equal(actionFailureMessage('Fix', 'server stopped'), 'Coding Director: Fix failed: server stopped');
  });

  test('says nothing when the user or the editor cancelled', () => {
    assert.equal(actionFailureMessage('Fix', Object.assign(new Error('cancelled'), { code: -32800 })), undefined);
    assert.equal(actionFailureMessage('Fix', Object.assign(new Error('Canceled'), { name: 'Canceled' })), undefined);
  });
});
