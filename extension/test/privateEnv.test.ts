import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { serverPackageSource } from '../src/server/privateEnv';

describe('serverPackageSource', () => {
  const root = mkdtempSync(join(tmpdir(), 'cd-ext-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('nothing to install in an empty extension folder', () => {
    assert.equal(serverPackageSource(root), undefined);
  });

  test('a source checkout installs from its root', () => {
    writeFileSync(join(root, 'pyproject.toml'), '[project]\nname = "coding-director"\n');
    assert.equal(serverPackageSource(root), root);
  });

  test('the bundled wheel wins, newest version first', () => {
    const wheels = join(root, 'extension', 'out', 'python');
    mkdirSync(wheels, { recursive: true });
    writeFileSync(join(wheels, 'coding_director-0.1.0-py3-none-any.whl'), '');
    writeFileSync(join(wheels, 'coding_director-0.2.0-py3-none-any.whl'), '');
    writeFileSync(join(wheels, 'other-9.0-py3-none-any.whl'), '');
    assert.equal(serverPackageSource(root), join(wheels, 'coding_director-0.2.0-py3-none-any.whl'));
  });
});
