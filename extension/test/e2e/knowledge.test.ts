/**
 * End-to-end: `@codebase` in the chat panel of a real workbench answers with source links that open
 * the right file at the right line. Screenshots: test-output/e2e/knowledge/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chat, sel } from './selectors';
import { missingPrerequisite, openChat, step, serverPython, startEmulator, startWorkbench, type Emulator, type Workbench } from './workbench';

const skip = missingPrerequisite();

const FILES = {
  'billing.py': 'def monthly_total(items):\n    """Sum of the item prices for the month."""\n    return sum(i.price for i in items)\n',
  'shipping.py': '\n\n\ndef shipping_cost(weight):\n    """Cost of shipping a parcel of this weight, by courier zone."""\n    return 4.5 + weight * 0.8\n',
};

describe('@codebase in code-server', { skip }, () => {
  let emulator: Emulator | undefined;
  let started: Workbench | undefined;
  const wb = (): Workbench => {
    if (!started) throw new Error('the workbench did not start');
    return started;
  };
  const scratch = mkdtempSync(join(tmpdir(), 'cd-e2e-knowledge-'));

  before(async () => {
    const emu = await startEmulator([{ name: 'e2e-lead:latest', reply: 'It is `shipping_cost` in shipping.py.' }], scratch);
    emulator = emu;
    const tiers = ['router', 'math', 'lead', 'senior', 'principal'];
    started = await startWorkbench({
      name: 'knowledge',
      files: FILES,
      settings: {
        'codingDirector.server.pythonPath': serverPython,
        'codingDirector.ollama.host': emu.url,
        'codingDirector.routing.router': 'offline',
        ...Object.fromEntries(tiers.map((tier) => [`codingDirector.tiers.${tier}.model`, 'e2e-lead'])),
      },
    });
  });

  after(async () => {
    await started?.stop();
    emulator?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('@codebase answers with a source link that opens the file at the line', () => step(wb(), 'codebase-source-link', async () => {
    await openChat(wb());
    const frame = wb().chatFrame();
    let link = frame.locator(chat.sourceLink).first();
    // The workspace is indexed in the background after start-up: ask until the answer has sources.
    for (let attempt = 0; attempt < 10; attempt++) {
      await frame.locator(chat.prompt).fill('@codebase what does shipping a parcel cost?');
      await frame.locator(chat.prompt).press('Enter');
      await frame.locator(chat.doneTurn).nth(attempt).waitFor({ timeout: 120_000 });
      link = frame.locator(chat.doneTurn).nth(attempt).locator(chat.sourceLink).first();
      if ((await link.count()) > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
    assert.equal(await link.textContent(), 'shipping.py:4-6');
    await wb().screenshot('01-codebase-answer-with-sources');
    await link.click();
    const editor = wb().page.locator(sel.editor.replace('{file}', 'shipping.py'));
    await editor.waitFor({ timeout: 30_000 });
    // Lines 4-6 are selected: the cursor (the selection's end) is at the start of line 7.
    await wb().page.locator('.statusbar-item', { hasText: /Ln 7, Col 1 \(\d+ selected\)/ }).waitFor({ timeout: 30_000 });
    await wb().screenshot('02-source-opened-at-line');
  }));
});
