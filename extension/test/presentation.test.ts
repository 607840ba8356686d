import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import type { StatusParams } from '../src/protocol';
import { completionsLook, menuItems, statusLook, type StatusSnapshot } from '../src/status/presentation';
import { StatusBar } from '../src/status/statusBar';
import { ThemeColor, mockState } from './vscode-mock';

const server = (params: Partial<StatusParams> & Pick<StatusParams, 'state'>): StatusSnapshot => ({
  origin: 'server',
  params: { message: 'm', missingModels: [], completionsEnabled: true, ...params },
});

describe('status bar look', () => {
  test('ready, busy with the tier, endpoint down, models missing', () => {
    assert.equal(statusLook(server({ state: 'ready' })).text, '$(hubot) Coding Director');
    assert.equal(statusLook(server({ state: 'busy', busyTier: 'senior' })).text, '$(loading~spin) CD: senior');
    const down = statusLook(server({ state: 'endpointDown', message: 'Ollama is not reachable', endpoint: 'http://127.0.0.1:11434' }));
    assert.equal(down.text, '$(debug-disconnect) CD: endpoint down');
    assert.equal(down.severity, 'error');
    assert.match(down.tooltip, /127\.0\.0\.1:11434/);
    const missing = statusLook(server({ state: 'modelsMissing', missingModels: ['a:7b', 'b:13b'] }));
    assert.equal(missing.text, '$(warning) CD: 2 models missing');
    assert.equal(missing.severity, 'warning');
    assert.match(missing.tooltip, /a:7b, b:13b/);
    assert.equal(statusLook(server({ state: 'modelsMissing', missingModels: ['a'] })).text, '$(warning) CD: 1 model missing');
  });

  test('ready on the built-in model names the runtime that answers', () => {
    const builtin = statusLook(server({ state: 'ready', runtimeKind: 'embedded', runtime: 'built-in smollm2-135m-instruct (llama.cpp)' }));
    assert.equal(builtin.text, '$(hubot) CD: built-in model');
    assert.match(builtin.tooltip, /Answering: built-in smollm2-135m-instruct/);
    const ollama = statusLook(server({ state: 'ready', runtimeKind: 'ollama', runtime: 'Ollama at http://127.0.0.1:11434' }));
    assert.equal(ollama.text, '$(hubot) Coding Director');
    assert.match(ollama.tooltip, /Answering: Ollama at/);
  });

  test('client-side states', () => {
    assert.equal(statusLook({ origin: 'client', state: 'noPython', message: 'x' }).severity, 'error');
    assert.match(statusLook({ origin: 'client', state: 'untrusted', message: 'x' }).tooltip, /Restricted mode/);
    assert.match(statusLook({ origin: 'client', state: 'starting', message: 'x' }).text, /sync~spin/);
  });

  test('completions toggle look', () => {
    assert.equal(completionsLook(true).text, '$(sparkle)');
    assert.match(completionsLook(false).text, /circle-slash/);
  });
});

describe('status menu', () => {
  test('pull models first, only when models are missing', () => {
    const items = menuItems(server({ state: 'modelsMissing', missingModels: ['x:1b'] }), true);
    assert.equal(items[0]?.action, 'pullModels');
    assert.equal(items[0].description, 'x:1b');
    assert.ok(!menuItems(server({ state: 'ready' }), true).some((i) => i.action === 'pullModels'));
  });

  test('always offers toggle, logs, restart and settings; stats only with a server', () => {
    const client = menuItems({ origin: 'client', state: 'failed', message: 'x' }, false).map((i) => i.action);
    for (const a of ['toggleCompletions', 'openLogs', 'restartServer', 'openSettings'] as const) assert.ok(client.includes(a), a);
    assert.ok(!client.includes('showStats'));
    assert.ok(menuItems(server({ state: 'ready' }), true).some((i) => i.action === 'showStats'));
    assert.match(menuItems(server({ state: 'ready' }), false).find((i) => i.action === 'toggleCompletions')?.label ?? '', /on$/);
  });
});

describe('StatusBar (vscode mock)', () => {
  afterEach(() => mockState.reset());

  test('paints state changes onto the item with the right background', () => {
    const bar = new StatusBar();
    const [main] = mockState.statusBarItems;
    assert.ok(main?.visible);
    assert.equal(main.command, 'codingDirector.showMenu');
    bar.update(server({ state: 'endpointDown' }));
    assert.equal(main.text, '$(debug-disconnect) CD: endpoint down');
    assert.deepEqual(main.backgroundColor, new ThemeColor('statusBarItem.errorBackground'));
    bar.update(server({ state: 'ready' }));
    assert.equal(main.backgroundColor, undefined);
    bar.setCompletions(false);
    const toggle = mockState.statusBarItems[1];
    assert.equal(toggle?.command, 'codingDirector.toggleCompletions');
    assert.match(toggle.text, /circle-slash/);
    bar.dispose();
    assert.ok(main.disposed && toggle.disposed);
  });
});
