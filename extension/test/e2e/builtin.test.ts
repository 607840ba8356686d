/**
 * End-to-end, part 6: with no Ollama reachable (and no endpoint configured) the server starts the
 * built-in runtime (SmolLM2-135M on llama.cpp, installed by ./scripts/setup), says so once with its
 * actions, the status bar names the built-in model, and a chat question is answered by it.
 * Screenshots: test-output/e2e/builtin/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chat, sel } from './selectors';
import { missingPrerequisite, openChat, openFile, serverPython, startWorkbench, step, statusItem, type Workbench } from './workbench';

const skip = missingPrerequisite();

describe('Coding Director on the built-in model', { skip }, () => {
  let started: Workbench | undefined;
  const wb = (): Workbench => {
    if (!started) throw new Error('the workbench did not start');
    return started;
  };

  before(async () => {
    started = await startWorkbench({
      name: 'builtin',
      files: { 'app.py': 'def add(a, b):\n    return a + b\n' },
      settings: {
        'codingDirector.server.pythonPath': serverPython,
        // No `codingDirector.ollama.host`: the default one has no Ollama here, so `auto` uses the built-in team.
        'codingDirector.routing.router': 'offline',
      },
    });
  });

  after(async () => {
    await started?.stop();
  });

  test('the notice says once that the built-in model answers, with its actions', () => step(wb(), 'notice', async () => {
    const page = wb().page;
    await openFile(page, 'app.py');
    const toast = page.locator(sel.notificationToast).filter({ hasText: 'No Ollama found: using the built-in small model' });
    await toast.first().waitFor({ timeout: 120_000 });
    const buttons = await toast.first().locator('.monaco-button').allTextContents();
    assert.ok(buttons.includes('Open settings') && buttons.includes('Install Ollama'), buttons.join(', '));
    await statusItem(page).filter({ hasText: 'built-in model' }).waitFor({ timeout: 60_000 });
    await wb().screenshot('01-builtin-notice');
    assert.equal(await toast.count(), 1, 'said once');
  }));

  test('a chat question is answered by the built-in model', () => step(wb(), 'chat', async () => {
    await openChat(wb());
    const frame = wb().chatFrame();
    await frame.locator(chat.prompt).fill('Write a Python function that reverses a string.');
    await frame.locator(chat.prompt).press('Enter');
    const done = frame.locator(chat.doneTurn).last();
    await done.waitFor({ timeout: 180_000 });
    assert.ok(((await done.locator(chat.answer).textContent()) ?? '').trim().length > 0, 'a real answer');
    await done.locator(chat.trail).locator('summary').click();
    assert.match((await done.locator(chat.trail).textContent()) ?? '', /smollm2-135m-instruct/);
    await wb().screenshot('02-builtin-answer');
  }));
});
