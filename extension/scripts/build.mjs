// Builds the extension with esbuild.
//   node extension/scripts/build.mjs            extension bundle (CommonJS, node20) + webview bundles (chat, dashboard: browser IIFE)
//   node extension/scripts/build.mjs --watch    same, rebuilding on change
//   node extension/scripts/build.mjs --tests    unit tests, one bundle per test file, `vscode` aliased to the mock
//   node extension/scripts/build.mjs --e2e      end-to-end tests (playwright-core stays external)
import * as esbuild from 'esbuild';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ext = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(ext, 'out');
const args = new Set(process.argv.slice(2));
const production = args.has('--production');

/** Every `*.test.ts` file below `dir`. */
function testFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'e2e' ? [] : testFiles(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

const common = { bundle: true, sourcemap: true, logLevel: 'warning', legalComments: 'none' };

/** @type {esbuild.BuildOptions[]} */
let builds;
if (args.has('--tests')) {
  rmSync(join(out, 'test'), { recursive: true, force: true });
  builds = [{
    ...common,
    entryPoints: testFiles(join(ext, 'test')),
    outdir: join(out, 'test'),
    outbase: join(ext, 'test'),
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    alias: { vscode: join(ext, 'test', 'vscode-mock.ts') },
  }];
} else if (args.has('--e2e')) {
  rmSync(join(out, 'e2e'), { recursive: true, force: true });
  builds = [{
    ...common,
    entryPoints: readdirSync(join(ext, 'test', 'e2e')).filter((n) => n.endsWith('.test.ts')).map((n) => join(ext, 'test', 'e2e', n)),
    outdir: join(out, 'e2e'),
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
  }];
} else {
  builds = [
    {
      ...common,
      entryPoints: [join(ext, 'src', 'extension.ts')],
      outfile: join(out, 'extension.js'),
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      external: ['vscode'],
      minify: production,
    },
    {
      ...common,
      entryPoints: [join(ext, 'src', 'webview', 'main.ts')],
      outfile: join(out, 'webview', 'chat.js'),
      platform: 'browser',
      target: 'chrome120',
      format: 'iife',
      minify: production,
    },
    {
      ...common,
      entryPoints: [join(ext, 'src', 'webview', 'dashboard.ts')],
      outfile: join(out, 'webview', 'dashboard.js'),
      platform: 'browser',
      target: 'chrome120',
      format: 'iife',
      minify: production,
    },
  ];
}

if (args.has('--watch')) {
  for (const options of builds) await (await esbuild.context(options)).watch();
  console.log('[build] watching', builds.map((b) => relative(ext, b.outfile ?? b.outdir ?? '')).join(', '));
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
