// Bundles a TypeScript tool from extension/tools/ with esbuild and runs it with the remaining arguments.
//   node extension/scripts/run-tool.mjs gen [--check]
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ext = join(dirname(fileURLToPath(import.meta.url)), '..');
const [tool, ...rest] = process.argv.slice(2);
if (!tool) {
  console.error('usage: run-tool.mjs <tool> [args...]');
  process.exit(2);
}
const outfile = join(ext, 'out', 'tools', `${tool}.js`);
await esbuild.build({
  entryPoints: [join(ext, 'tools', `${tool}-cli.ts`)],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  logLevel: 'warning',
});
const result = spawnSync(process.execPath, [outfile, ...rest], { stdio: 'inherit' });
process.exit(result.status ?? 1);
