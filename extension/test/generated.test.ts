// Drift tests: the committed generated types and the manifest's configuration must match shared-schemas/.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { checkConfiguration, combineSchemas, generateMessagesTs, readSchemas, schemaAtPath, type SchemaNode } from '../tools/generate';

// Bundled to extension/out/test/<name>.js: the repository root is three levels up.
const root = join(__dirname, '..', '..', '..');
const schemaDir = join(root, 'shared-schemas');
const readJson = (path: string): SchemaNode => JSON.parse(readFileSync(path, 'utf8')) as SchemaNode;

describe('generated message types', () => {
  test('src/generated/messages.ts is exactly what shared-schemas/ generate (run `npm run gen` when this fails)', async () => {
    const expected = await generateMessagesTs(schemaDir);
    const committed = readFileSync(join(root, 'extension', 'src', 'generated', 'messages.ts'), 'utf8');
    if (committed !== expected) {
      const a = committed.split('\n');
      const b = expected.split('\n');
      const line = a.findIndex((text, i) => text !== b[i]);
      assert.fail(`src/generated/messages.ts is stale (first difference at line ${line + 1}: ${JSON.stringify(a[line])} vs ${JSON.stringify(b[line])}); run npm run gen`);
    }
  });

  test('every schema file becomes an exported interface', async () => {
    const text = await generateMessagesTs(schemaDir);
    for (const name of readSchemas(schemaDir).keys()) assert.match(text, new RegExp(`export interface ${name} \\{`), name);
  });

  test('a changed schema changes the generated text (the drift test can fail)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cd-schemas-'));
    try {
      for (const [name, schema] of readSchemas(schemaDir)) {
        if (name === 'ChatParams') {
          const props = schema.properties as Record<string, unknown>;
          props.temperature = { type: 'number' };
        }
        writeFileSync(join(dir, `${name}.schema.json`), JSON.stringify(schema));
      }
      const changed = await generateMessagesTs(dir);
      assert.notEqual(changed, await generateMessagesTs(schemaDir));
      assert.match(changed, /temperature\?: number;/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a model defined differently in two files is an error', () => {
    const a: SchemaNode = { title: 'A', type: 'object', $defs: { Shared: { type: 'object', properties: { x: { type: 'string' } } } } };
    const b: SchemaNode = { title: 'B', type: 'object', $defs: { Shared: { type: 'object', properties: { x: { type: 'integer' } } } } };
    assert.throws(() => combineSchemas(new Map([['A', a], ['B', b]])), /Shared is defined differently/);
  });
});

describe('contributes.configuration vs Settings.schema.json', () => {
  const manifest = readJson(join(root, 'package.json'));
  const settings = readJson(join(schemaDir, 'Settings.schema.json'));

  test('agree', () => {
    assert.deepEqual(checkConfiguration(manifest, settings), []);
  });

  test('schema paths resolve through $ref and dict-valued tiers', () => {
    assert.equal(schemaAtPath(settings, ['completion', 'debounce_ms'])?.type, 'integer');
    assert.equal(schemaAtPath(settings, ['tiers', 'lead', 'model'])?.type, 'string');
    assert.equal(schemaAtPath(settings, ['routing', 'nope']), undefined);
  });

  test('a wrong default, a wrong enum and an unmapped setting are reported', () => {
    const broken = structuredClone(manifest);
    const props = ((broken.contributes as SchemaNode).configuration as SchemaNode).properties as Record<string, SchemaNode>;
    (props['codingDirector.completions.debounceMs'] as SchemaNode).default = 999;
    (props['codingDirector.routing.router'] as SchemaNode).enum = ['auto', 'always'];
    props['codingDirector.mystery'] = { type: 'string' };
    delete props['codingDirector.ollama.host'];
    const problems = checkConfiguration(broken, settings);
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.ok(problems.some((p) => p.includes('debounceMs') && p.includes('default')));
    assert.ok(problems.some((p) => p.includes('routing.router') && p.includes('enum')));
    assert.ok(problems.some((p) => p.includes('codingDirector.mystery')));
    assert.ok(problems.some((p) => p.includes('ollama.host') && p.includes('missing')));
  });

  test('a tier override field the server does not know is reported', () => {
    const broken = structuredClone(manifest);
    const props = ((broken.contributes as SchemaNode).configuration as SchemaNode).properties as Record<string, SchemaNode>;
    const overrides = props['codingDirector.tiers.overrides'] as SchemaNode;
    ((overrides.additionalProperties as SchemaNode).properties as Record<string, SchemaNode>).top_k = { type: 'integer' };
    assert.deepEqual(checkConfiguration(broken, settings), ['codingDirector.tiers.overrides.<tier>.top_k: unknown TierSettings field']);
  });
});
