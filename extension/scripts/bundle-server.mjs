// Builds the Python server package into a wheel at extension/out/python/ so that the .vsix carries it:
// the extension's "private environment" installs that wheel with pip (see src/server/privateEnv.ts).
// The sources are copied to a temporary directory first, so the build leaves nothing in the repository.
//   node extension/scripts/bundle-server.mjs        (python: $CODING_DIRECTOR_PYTHON, else .venv/bin/python, else python3)
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outDir = join(root, 'extension', 'out', 'python');
const venvPython = join(root, '.venv', process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
const python = process.env.CODING_DIRECTOR_PYTHON || (existsSync(venvPython) ? venvPython : 'python3');

const work = mkdtempSync(join(tmpdir(), 'cd-wheel-'));
try {
  cpSync(join(root, 'pyproject.toml'), join(work, 'pyproject.toml'));
  for (const extra of ['README.md', 'LICENSE']) if (existsSync(join(root, extra))) cpSync(join(root, extra), join(work, extra));
  cpSync(join(root, 'server', 'coding_director'), join(work, 'server', 'coding_director'), {
    recursive: true,
    filter: (source) => !/(__pycache__|\.pyc$|\.egg-info)/.test(source),
  });
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = spawnSync(python, ['-m', 'pip', 'wheel', '--no-deps', '--disable-pip-version-check', '--wheel-dir', outDir, work], {
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    console.error(`[bundle-server] pip wheel failed (python: ${python})`);
    process.exit(1);
  }
  const wheels = readdirSync(outDir).filter((n) => n.endsWith('.whl'));
  if (wheels.length !== 1) {
    console.error(`[bundle-server] expected one wheel in ${outDir}, found: ${wheels.join(', ') || 'none'}`);
    process.exit(1);
  }
  console.log(`[bundle-server] ${join('extension', 'out', 'python', wheels[0])}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
