/**
 * End-to-end, part 4: an answer rejected while it streams (a generation loop) stays in the chat as
 * discarded text, collapsed and struck through, with its reason; the next tier's answer is the answer.
 * Screenshots: test-output/e2e/discarded/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chat, sel } from './selectors';
import { missingPrerequisite, openChat, openFile, serverPython, startEmulator, startWorkbench, step, statusItem, type Emulator, type Workbench } from './workbench';

const skip = missingPrerequisite();

describe('Coding Director discards a looping answer while it streams', { skip }, () => {
  let emulator: Emulator | undefined;
  let started: Workbench | undefined;
  const wb = (): Workbench => {
    if (!started) throw new Error('the workbench did not start');
    return started;
  };
  const scratch = mkdtempSync(join(tmpdir(), 'cd-e2e-discard-'));

  before(async () => {
    const emu = await startEmulator(
      [
        // Loops for as long as it is read (1,024 tokens at 10 ms would take 10 s).
        { name: 'e2e-loop:latest', reply: 'The same sentence comes again.\n', loop: true, chunk_delay_ms: 10 },
        { name: 'e2e-good:latest', reply: 'The function `add` returns the sum of its two arguments.' },
      ],
      scratch,
    );
    emulator = emu;
    started = await startWorkbench({
      name: 'discarded',
      files: { 'app.py': 'def add(a, b):\n    return a + b\n' },
      settings: {
        'codingDirector.server.pythonPath': serverPython,
        'codingDirector.ollama.host': emu.url,
        'codingDirector.routing.router': 'offline',
        'codingDirector.tiers.lead.model': 'e2e-loop',
        'codingDirector.tiers.senior.model': 'e2e-good',
        'codingDirector.tiers.principal.model': 'e2e-good',
        'codingDirector.tiers.math.model': 'e2e-loop',
        'codingDirector.tiers.router.model': 'e2e-good',
      },
    });
  });

  after(async () => {
    await started?.stop();
    emulator?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('the loop is shown as discarded with its reason and the senior answers', () => step(wb(), 'loop-discarded', async () => {
    await openFile(wb().page, 'app.py');
    await statusItem(wb().page).waitFor({ timeout: 60_000 });
    // Ready: the status item shows the hubot icon once the server answered (a spinner before).
    await wb().page.locator(`${sel.statusItem} .codicon-hubot`).first().waitFor({ timeout: 90_000 });
    await openChat(wb());
    const frame = wb().chatFrame();
    await frame.locator(chat.prompt).fill('Explain what add does');
    await frame.locator(chat.prompt).press('Enter');
    const done = frame.locator(chat.doneTurn).last();
    await done.waitFor({ timeout: 90_000 });
    assert.match((await done.locator(chat.answer).textContent()) ?? '', /returns the sum/);
    assert.equal(await done.locator(chat.tierBadge).textContent(), 'senior');
    const discarded = done.locator(chat.discarded);
    assert.equal(await discarded.count(), 1);
    const summary = (await discarded.locator('summary').textContent()) ?? '';
    assert.match(summary, /^lead: discarded: stopped while streaming: generation loop: .*\(stopped after [\d.]+ s, \d+ tokens\)$/);
    assert.equal(await discarded.getAttribute('open'), null, 'collapsed by default');
    await discarded.locator('summary').click();
    const struck = discarded.locator('del');
    assert.match((await struck.textContent()) ?? '', /The same sentence comes again\./);
    // Stopped early: far fewer tokens than the lead's num_predict of 1,024.
    const tokens = Number(/, (\d+) tokens\)$/.exec(summary)?.[1]);
    assert.ok(tokens > 0 && tokens < 512, summary);
    await wb().screenshot('01-loop-discarded');
  }));
});
