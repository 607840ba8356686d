import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CLIENT_ONLY_KEYS, RESTART_KEYS, SETTING_MAP, explicitValue, mapSettings, needsRestart } from '../src/settings/mapping';

describe('mapSettings', () => {
  test('nothing set gives an empty patch (the server keeps its defaults and TOML file)', () => {
    assert.deepEqual(mapSettings({}), {});
  });

  test('maps camelCase VS Code keys to the nested snake_case server shape', () => {
    const patch = mapSettings({
      'ollama.host': 'http://10.0.0.2:11434',
      'tiers.lead.model': 'qwen2.5-coder:7b',
      'routing.router': 'offline',
      'routing.generalChain': ['lead', 'principal'],
      'routing.attemptTimeoutSeconds': 30,
      'completions.enabled': false,
      'completions.debounceMs': 300,
      'completions.tier': 'senior',
      'server.pythonPath': '/usr/bin/python3',
    });
    assert.deepEqual(patch, {
      ollama: { host: 'http://10.0.0.2:11434' },
      tiers: { lead: { model: 'qwen2.5-coder:7b' } },
      routing: { router: 'offline', general_chain: ['lead', 'principal'], attempt_timeout_s: 30 },
      completion: { enabled: false, debounce_ms: 300, tier: 'senior' },
    });
  });

  test('empty strings are dropped and strings trimmed', () => {
    assert.deepEqual(mapSettings({ 'ollama.host': '  ', 'tiers.math.model': ' mathstral:7b ', 'routing.mathChain': [' math ', ''] }), {
      tiers: { math: { model: 'mathstral:7b' } },
      routing: { math_chain: ['math'] },
    });
  });

  test('tier overrides merge into tiers; the per-tier model setting wins', () => {
    const patch = mapSettings({
      'tiers.overrides': {
        lead: { provider: 'openai', base_url: 'http://127.0.0.1:8080/v1', model: 'ignored' },
        extra: { model: 'phi3:mini', timeout_s: null },
      },
      'tiers.lead.model': 'gemma3',
    });
    assert.deepEqual(patch, {
      tiers: {
        lead: { provider: 'openai', base_url: 'http://127.0.0.1:8080/v1', model: 'gemma3' },
        extra: { model: 'phi3:mini', timeout_s: null },
      },
    });
  });

  test('every mapped key is distinct and no client-only key is mapped', () => {
    const keys = SETTING_MAP.map((m) => m.key);
    assert.equal(new Set(keys).size, keys.length);
    for (const key of CLIENT_ONLY_KEYS) assert.ok(!keys.includes(key), key);
    for (const key of RESTART_KEYS) assert.ok(CLIENT_ONLY_KEYS.includes(key), key);
  });
});

describe('explicitValue', () => {
  test('the most specific scope wins and defaults do not count', () => {
    assert.equal(explicitValue({ globalValue: 1, workspaceValue: 2, workspaceFolderValue: 3 }), 3);
    assert.equal(explicitValue({ globalValue: 1, workspaceValue: 2 }), 2);
    assert.equal(explicitValue({ globalValue: false }), false);
    assert.equal(explicitValue({}), undefined);
    assert.equal(explicitValue(undefined), undefined);
  });
});

describe('needsRestart', () => {
  test('only server.* settings restart the server', () => {
    assert.equal(needsRestart((s) => s === 'codingDirector.server.pythonPath'), true);
    assert.equal(needsRestart((s) => s === 'codingDirector.server.configFile'), true);
    assert.equal(needsRestart((s) => s === 'codingDirector.completions.enabled'), false);
  });
});
