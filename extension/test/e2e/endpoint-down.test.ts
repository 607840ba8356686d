/**
 * End-to-end, part 2: with the model endpoint down the status bar says so, and no error storm appears.
 * Screenshots: test-output/e2e/endpoint-down/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sel } from './selectors';
import { freePort, missingPrerequisite, openFile, serverPython, startWorkbench, statusItem, type Workbench } from './workbench';

const skip = missingPrerequisite();

describe('Coding Director with the endpoint down', { skip }, () => {
  let started: Workbench | undefined;
  const wb = (): Workbench => {
    if (!started) throw new Error('the workbench did not start');
    return started;
  };

  before(async () => {
    const closedPort = await freePort(); // nothing listens there
    started = await startWorkbench({
      name: 'endpoint-down',
      files: { 'app.py': 'def add(a, b):\n    return a + b\n' },
      settings: {
        'codingDirector.server.pythonPath': serverPython,
        'codingDirector.ollama.host': `http://127.0.0.1:${closedPort}`,
        'codingDirector.routing.router': 'offline',
      },
    });
  });

  after(async () => {
    await started?.stop();
  });

  test('the status bar says the endpoint is down', async () => {
    await openFile(wb().page, 'app.py');
    await wb().page.locator(sel.statusItem).filter({ hasText: 'endpoint down' }).first().waitFor({ timeout: 90_000 });
    await wb().screenshot('01-endpoint-down');
  });

  test('typing does not raise a storm of notifications', async () => {
    const page = wb().page;
    const editor = page.locator(sel.editor.replace('{file}', 'app.py'));
    await editor.locator('.view-line').last().click();
    await page.keyboard.press('Control+End');
    for (const text of ['\ndef sub(a, b):\n    ', 'return a - b\n', '\ndef mul(a, b):\n    ']) {
      await page.keyboard.type(text, { delay: 30 });
    }
    // Give the server the time to answer the completion requests it got, then count toasts.
    await page.waitForTimeout(3000);
    const toasts = await page.locator(sel.notificationToast).count();
    await wb().screenshot('02-after-typing');
    assert.ok(toasts <= 1, `expected at most one notification, saw ${toasts}`);
    assert.match((await statusItem(page).textContent()) ?? '', /endpoint down/);
  });
});
