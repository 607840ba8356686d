// Reads settings through the (mocked) VS Code API.
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { completionsEnabled, currentServerSettings } from '../src/settings/read';
import { mockState } from './vscode-mock';

describe('currentServerSettings (vscode mock)', () => {
  beforeEach(() => mockState.reset());

  test('sends only explicitly set values, never defaults', () => {
    mockState.settings.set('codingDirector.ollama.host', { defaultValue: 'http://127.0.0.1:11434' });
    mockState.settings.set('codingDirector.completions.debounceMs', { defaultValue: 150, globalValue: 400 });
    mockState.settings.set('codingDirector.routing.router', { defaultValue: 'auto', globalValue: 'model', workspaceValue: 'offline' });
    assert.deepEqual(currentServerSettings(), { completion: { debounce_ms: 400 }, routing: { router: 'offline' } });
  });

  test('completionsEnabled follows the setting and defaults to true', () => {
    assert.equal(completionsEnabled(), true);
    mockState.settings.set('codingDirector.completions.enabled', { defaultValue: true, globalValue: false });
    assert.equal(completionsEnabled(), false);
  });
});
