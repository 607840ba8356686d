/**
 * `npm run gen`: writes `src/generated/messages.ts` from `shared-schemas/` and checks the manifest's
 * `contributes.configuration` against `Settings.schema.json`.
 * `npm run gen:check`: writes nothing; exits 1 when the generated file is stale or the configuration drifts.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkConfiguration, generateMessagesTs, type SchemaNode } from './generate';

async function main(): Promise<number> {
  const root = join(__dirname, '..', '..', '..');
  const schemaDir = join(root, 'shared-schemas');
  const target = join(root, 'extension', 'src', 'generated', 'messages.ts');
  const check = process.argv.includes('--check');

  const text = await generateMessagesTs(schemaDir);
  const current = existsSync(target) ? readFileSync(target, 'utf8') : undefined;
  let failed = false;
  if (current !== text) {
    if (check) {
      console.error(`stale: ${target} differs from what shared-schemas/ generate; run npm run gen`);
      failed = true;
    } else {
      writeFileSync(target, text);
      console.log(`wrote ${target}`);
    }
  } else {
    console.log(`up to date: ${target}`);
  }

  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as SchemaNode;
  const settings = JSON.parse(readFileSync(join(schemaDir, 'Settings.schema.json'), 'utf8')) as SchemaNode;
  const problems = checkConfiguration(manifest, settings);
  for (const problem of problems) console.error(`configuration drift: ${problem}`);
  if (problems.length === 0) console.log('contributes.configuration agrees with Settings.schema.json');
  return failed || problems.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
