import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  PROBE_SCRIPT,
  baseInterpreterForPrivateEnv,
  candidateInterpreters,
  expandConfiguredPath,
  findInterpreter,
  parseProbeOutput,
  probePython,
  venvPython,
  type ProbeResult,
} from '../src/server/interpreter';

const ok: ProbeResult = { ran: true, pythonOk: true, serverOk: true, pythonVersion: '3.11.7', serverVersion: '0.1.0' };
const pythonOnly: ProbeResult = { ran: true, pythonOk: true, serverOk: false, pythonVersion: '3.12.1', error: "ModuleNotFoundError: No module named 'coding_director'" };
const missing: ProbeResult = { ran: false, pythonOk: false, serverOk: false, error: 'spawn ENOENT' };

describe('candidateInterpreters', () => {
  test('orders setting, Python extension, workspace .venv, private env, python3', () => {
    const list = candidateInterpreters({
      settingPath: '/opt/py/bin/python',
      pythonExtensionPath: '/usr/bin/python3.12',
      workspaceFolders: ['/ws/a', '/ws/b'],
      privateEnvDir: '/storage/server-env',
      platform: 'linux',
      home: '/home/u',
    });
    assert.deepEqual(list, [
      { path: '/opt/py/bin/python', source: 'setting' },
      { path: '/usr/bin/python3.12', source: 'pythonExtension' },
      { path: '/ws/a/.venv/bin/python', source: 'workspaceVenv' },
      { path: '/ws/b/.venv/bin/python', source: 'workspaceVenv' },
      { path: '/storage/server-env/bin/python', source: 'privateEnv' },
      { path: 'python3', source: 'path' },
    ]);
  });

  test('skips empty settings and removes duplicates, keeping the first source', () => {
    const list = candidateInterpreters({
      settingPath: '  ',
      pythonExtensionPath: '/ws/.venv/bin/python',
      workspaceFolders: ['/ws'],
      platform: 'linux',
      home: '/home/u',
    });
    assert.deepEqual(list, [
      { path: '/ws/.venv/bin/python', source: 'pythonExtension' },
      { path: 'python3', source: 'path' },
    ]);
  });

  test('expands ~ and ${workspaceFolder} in the setting', () => {
    const list = candidateInterpreters({ settingPath: '${workspaceFolder}/env/bin/python', workspaceFolders: ['/ws'], platform: 'linux', home: '/h' });
    assert.equal(list[0]?.path, '/ws/env/bin/python');
    assert.equal(expandConfiguredPath('~/venvs/cd/bin/python', '/home/u'), '/home/u/venvs/cd/bin/python');
    assert.equal(expandConfiguredPath('${userHome}/x', '/home/u'), '/home/u/x');
    assert.equal(expandConfiguredPath('', '/home/u'), undefined);
  });

  test('uses Scripts\\python.exe and python on Windows', () => {
    assert.match(venvPython('C:\\env', 'win32'), /Scripts[\\/]python\.exe$/);
    const list = candidateInterpreters({ workspaceFolders: [], platform: 'win32', home: 'C:\\Users\\u' });
    assert.deepEqual(list, [{ path: 'python', source: 'path' }]);
  });
});

describe('parseProbeOutput', () => {
  test('reads a successful report after unrelated output', () => {
    const result = parseProbeOutput('site noise\nCODING_DIRECTOR_PROBE {"python": "3.11.7", "pythonOk": true, "server": "0.1.0", "serverOk": true}\n');
    assert.deepEqual(result, { ran: true, pythonOk: true, serverOk: true, pythonVersion: '3.11.7', serverVersion: '0.1.0', error: undefined });
  });

  test('an old Python is unusable even if the package imports', () => {
    const result = parseProbeOutput('CODING_DIRECTOR_PROBE {"python": "3.9.2", "pythonOk": false, "server": "0.1.0", "serverOk": true}');
    assert.equal(result.serverOk, false);
    assert.equal(result.error, 'Python 3.11 or newer is needed');
  });

  test('reports the import error', () => {
    const result = parseProbeOutput('CODING_DIRECTOR_PROBE {"python": "3.12.0", "pythonOk": true, "serverOk": false, "error": "ModuleNotFoundError: x"}');
    assert.equal(result.serverOk, false);
    assert.equal(result.pythonOk, true);
    assert.equal(result.error, 'ModuleNotFoundError: x');
  });

  test('no report means the interpreter did not run', () => {
    assert.equal(parseProbeOutput('').ran, false);
    assert.equal(parseProbeOutput('CODING_DIRECTOR_PROBE {not json').ran, false);
  });
});

describe('findInterpreter', () => {
  test('stops at the first usable candidate and records what it tried', async () => {
    const probed: string[] = [];
    const results: Record<string, ProbeResult> = { a: missing, b: pythonOnly, c: ok, d: ok };
    const discovery = await findInterpreter(
      ['a', 'b', 'c', 'd'].map((path) => ({ path, source: 'path' as const })),
      (python) => {
        probed.push(python);
        return Promise.resolve(results[python] ?? missing);
      },
    );
    assert.deepEqual(probed, ['a', 'b', 'c']);
    assert.equal(discovery.found?.candidate.path, 'c');
    assert.equal(discovery.tried.length, 3);
  });

  test('finds nothing, then offers the first Python >= 3.11 that is not the private env as base', async () => {
    const discovery = await findInterpreter(
      [
        { path: '/priv/bin/python', source: 'privateEnv' },
        { path: '/old', source: 'setting' },
        { path: 'python3', source: 'path' },
      ],
      (python) => Promise.resolve(python === 'python3' || python === '/priv/bin/python' ? pythonOnly : { ...pythonOnly, pythonOk: false }),
    );
    assert.equal(discovery.found, undefined);
    assert.equal(baseInterpreterForPrivateEnv(discovery), 'python3');
  });
});

describe('probePython (spawns a process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cd-probe-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('runs the probe script with the interpreter and parses its report', { skip: process.platform === 'win32' }, async () => {
    // A fake interpreter: records its arguments and prints a report.
    const fake = join(dir, 'python');
    writeFileSync(fake, `#!/bin/sh\n[ "$1" = "-c" ] || exit 9\necho 'CODING_DIRECTOR_PROBE {"python": "3.13.1", "pythonOk": true, "server": "9.9", "serverOk": true}'\n`);
    chmodSync(fake, 0o755);
    const result = await probePython(fake);
    assert.equal(result.serverOk, true);
    assert.equal(result.serverVersion, '9.9');
  });

  test('a missing executable is reported, not thrown', async () => {
    const result = await probePython(join(dir, 'does-not-exist'));
    assert.equal(result.ran, false);
    assert.equal(result.serverOk, false);
    assert.match(result.error ?? '', /ENOENT/);
  });

  test('the probe script is valid Python that reports a missing package', { skip: process.platform === 'win32' }, async (t) => {
    const real = await probePython('python3');
    if (!real.ran) {
      t.skip('no python3 on PATH');
      return;
    }
    assert.ok(real.pythonVersion);
    assert.ok(PROBE_SCRIPT.includes('import coding_director'));
    if (!real.serverOk) assert.ok(real.error);
  });
});
