/**
 * End-to-end, part 3: a tier's model is missing; the status bar says so; its menu pulls the model
 * (work-done progress from the server) and toggles inline completions.
 * Screenshots: test-output/e2e/status-menu/.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sel } from './selectors';
import { missingPrerequisite, openFile, serverPython, startEmulator, startWorkbench, statusItem, step, type Emulator, type Workbench } from './workbench';

const skip = missingPrerequisite();

describe('Coding Director status menu', { skip }, () => {
  let emulator: Emulator | undefined;
  let started: Workbench | undefined;
  const wb = (): Workbench => {
    if (!started) throw new Error('the workbench did not start');
    return started;
  };
  const scratch = mkdtempSync(join(tmpdir(), 'cd-e2e-emu-'));

  before(async () => {
    const emu = await startEmulator(
      [
        { name: 'e2e-lead:latest', reply: 'ok' },
        { name: 'e2e-missing:latest', reply: 'ok', pull_only: true },
      ],
      scratch,
    );
    emulator = emu;
    started = await startWorkbench({
      name: 'status-menu',
      files: { 'app.py': 'def add(a, b):\n    return a + b\n' },
      settings: {
        'codingDirector.server.pythonPath': serverPython,
        'codingDirector.ollama.host': emu.url,
        'codingDirector.routing.router': 'offline',
        'codingDirector.tiers.router.model': 'e2e-lead',
        'codingDirector.tiers.math.model': 'e2e-lead',
        'codingDirector.tiers.lead.model': 'e2e-missing',
        'codingDirector.tiers.senior.model': 'e2e-lead',
        'codingDirector.tiers.principal.model': 'e2e-lead',
      },
    });
  });

  after(async () => {
    await started?.stop();
    emulator?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  async function pickFromStatusMenu(label: RegExp): Promise<void> {
    const page = wb().page;
    await statusItem(page).click();
    const row = page.locator(sel.quickInputRow).filter({ hasText: label }).first();
    await row.waitFor();
    await row.click();
  }

  test('the status bar says a model is missing', () => step(wb(), 'models-missing', async () => {
    await openFile(wb().page, 'app.py');
    await wb().page.locator(sel.statusItem).filter({ hasText: '1 model missing' }).first().waitFor({ timeout: 90_000 });
    await wb().screenshot('01-model-missing');
  }));

  test('the status menu lists the actions and pulls the missing model', () => step(wb(), 'pull', async () => {
    const page = wb().page;
    await statusItem(page).click();
    for (const label of ['Pull missing models', 'Turn inline completions off', 'Open logs', 'Restart server', 'Open settings']) {
      await page.locator(sel.quickInputRow).filter({ hasText: label }).first().waitFor();
    }
    await wb().screenshot('02-status-menu');
    await page.keyboard.press('Escape');
    await pickFromStatusMenu(/Pull missing models/);
    await page.locator(sel.statusItem).filter({ hasText: /^\s*Coding Director\s*$/ }).first().waitFor({ timeout: 90_000 });
    await wb().screenshot('03-after-pull-ready');
  }));

  test('the status menu toggles inline completions', () => step(wb(), 'toggle', async () => {
    const page = wb().page;
    const on = page.locator('[aria-label="Coding Director inline completions on"]');
    const off = page.locator('[aria-label="Coding Director inline completions off"]');
    await on.first().waitFor();
    await pickFromStatusMenu(/Turn inline completions off/);
    await off.first().waitFor();
    await wb().screenshot('04-completions-off');
    await pickFromStatusMenu(/Turn inline completions on/);
    await on.first().waitFor();
    assert.equal(await off.count(), 0);
  }));
});
