/**
 * End-to-end, part 1: the built .vsix in a real workbench with the server on the Ollama emulator.
 * Screenshots: test-output/e2e/smoke/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { chat, dashboard, sel } from './selectors';
import { editorContextMenu, missingPrerequisite, openChat, openFile, runCommand, step, serverPython, startEmulator, startWorkbench, statusItem, type Emulator, type Workbench } from './workbench';

const skip = missingPrerequisite();

/** What the lead tier answers (every chat, explain and fix request): prose, hostile HTML, a code block. */
const LEAD_REPLY = [
  'The function `add` returns the sum of its two arguments.',
  '',
  'Hostile output stays text: <script>document.body.dataset.pwned = "script"</script>',
  'and <img src=x onerror="document.body.dataset.pwned = \'img\'"> too.',
  '',
  '```python',
  'def add(a, b):',
  '    return a + b',
  '```',
  '',
].join('\n');

/** What the lead model answers each role of a `/task` (matched on the role's system prompt). */
const TASK_REPLIES: [string, string][] = [
  ['You are the planner', '```json\n{"files": ["app.py"], "steps": ["add multiply to app.py"], "test": "pytest"}\n```'],
  [
    'You are the coder',
    'app.py\n<<<<<<< SEARCH\ndef add(a, b):\n    return a + b\n=======\ndef add(a, b):\n    return a + b\n\n\ndef multiply(a, b):\n    return a * b\n>>>>>>> REPLACE\n',
  ],
  ['You are the tester', 'NO CHANGES'],
  ['You are the reviewer', '```json\n[]\n```'],
  ['You are the documenter', 'NO CHANGES'],
];

const FILES = {
  'app.py': 'def add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n',
  'broken.py': 'def add(a, b)\n    return a + b\n',
  'complete.py': 'def mul(a, b):\n',
  'test_app.py': 'from app import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n',
  // The team answers Python: spliced into this JavaScript file it does not parse, so every tier fails.
  'broken.js': 'function add(a, b {\n  return a + b;\n}\n',
};

function parses(path: string): boolean {
  return spawnSync(serverPython, ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', path]).status === 0;
}

describe('Coding Director in code-server', { skip }, () => {
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
        { name: 'e2e-lead:latest', reply: LEAD_REPLY, reply_by_system: TASK_REPLIES, tokens_per_chunk: 1, chunk_delay_ms: 40 },
        { name: 'e2e-fim:latest', reply: 'return a * b', capabilities: ['completion', 'insert'] },
        { name: 'e2e-router:latest', reply: 'general explain' },
      ],
      scratch,
    );
    emulator = emu;
    const everyTier = { router: 'e2e-router', math: 'e2e-lead', lead: 'e2e-lead', senior: 'e2e-lead', principal: 'e2e-lead' };
    started = await startWorkbench({
      name: 'smoke',
      logLevel: 'trace',
      files: FILES,
      settings: {
        'codingDirector.server.pythonPath': serverPython,
        'codingDirector.ollama.host': emu.url,
        'codingDirector.routing.router': 'offline',
        ...Object.fromEntries(Object.entries(everyTier).map(([tier, model]) => [`codingDirector.tiers.${tier}.model`, model])),
        'codingDirector.tiers.overrides': { fim: { model: 'e2e-fim' } },
        'codingDirector.completions.tier': 'fim',
        'codingDirector.completions.debounceMs': 50,
        'codingDirector.trace.server': 'messages', // the Stop step checks that $/cancelRequest was sent
      },
    });
  });

  after(async () => {
    await started?.stop();
    emulator?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('installs, activates on a Python file and shows the status bar item', () => step(wb(), 'installs-activates-on-a-python-file-and', async () => {
    await openFile(wb().page, 'app.py');
    await statusItem(wb().page).waitFor({ timeout: 60_000 });
    await wb().screenshot('01-python-file-status-bar');
  }));

  test('the server reports ready in the status bar', () => step(wb(), 'the-server-reports-ready-in-the-status-b', async () => {
    await wb().page.locator(sel.statusItem).filter({ hasText: /^\s*Coding Director\s*$/ }).first().waitFor({ timeout: 60_000 });
    const item = statusItem(wb().page);
    assert.match((await item.textContent()) ?? '', /Coding Director/);
    await wb().screenshot('02-status-ready');
  }));

  test('the chat view opens from the activity bar', () => step(wb(), 'the-chat-view-opens-from-the-activity-ba', async () => {
    await openChat(wb());
    await wb().screenshot('03-chat-view');
  }));

  test('right-click > Coding Director > Explain streams an answer into the chat with a tier badge', () => step(wb(), 'right-click-coding-director-explain-stre', async () => {
    const page = wb().page;
    await openFile(page, 'app.py');
    await editorContextMenu(page, 'app.py', 'Coding Director', 'Explain');
    const frame = wb().chatFrame();
    const turn = frame.locator(chat.turn).last();
    await turn.locator(chat.answer).filter({ hasText: 'returns the sum' }).waitFor({ timeout: 60_000 });
    await wb().screenshot('04-explain-streaming');
    await frame.locator(chat.doneTurn).last().waitFor({ timeout: 60_000 });
    // The first tier of the routed chain answers (every tier runs the same model here); which chain
    // `def add` goes to is the learned router's call (P(math) about 0.56), not what this test is about.
    assert.match((await frame.locator(chat.doneTurn).last().locator(chat.tierBadge).textContent()) ?? '', /^(lead|math)$/);
    await frame.locator(chat.doneTurn).last().locator(`${chat.trail} summary`).click();
    await wb().screenshot('05-explain-done-with-trail');
  }));

  test('model output with <script> and <img onerror> renders inert', () => step(wb(), 'model-output-with-script-and-img-onerror', async () => {
    const frame = wb().chatFrame();
    const answer = frame.locator(chat.doneTurn).last().locator(chat.answer);
    const text = (await answer.textContent()) ?? '';
    assert.ok(text.includes('<script>'), 'the script tag is shown as text');
    assert.ok(text.includes('onerror'), 'the img tag is shown as text');
    assert.equal(await answer.locator('script, img, iframe').count(), 0);
    assert.equal(await frame.locator('body[data-pwned]').count(), 0);
    await wb().screenshot('06-hostile-output-inert');
  }));

  test('a chat question streams and Stop cancels it', () => step(wb(), 'a-chat-question-streams-and-stop-cancels', async () => {
    const frame = wb().chatFrame();
    await frame.locator(chat.prompt).fill('What does add do?');
    await frame.locator(chat.prompt).press('Enter');
    const streaming = frame.locator(chat.streamingTurn).last();
    await streaming.locator(chat.answer).filter({ hasText: /\S/ }).waitFor({ timeout: 60_000 });
    await wb().screenshot('07-chat-streaming');
    await frame.locator(chat.stop).click();
    const cancelled = frame.locator(chat.cancelledTurn).last();
    await cancelled.waitFor({ timeout: 10_000 });
    assert.equal(await frame.locator(chat.streamingTurn).count(), 0);
    assert.ok(await frame.locator(chat.stop).isHidden());
    // The request was cancelled over LSP, not only in the UI (languageclient traces it to our log channel).
    let log = '';
    for (let i = 0; i < 40 && !log.includes("'$/cancelRequest'"); i++) {
      await new Promise((r) => setTimeout(r, 250));
      log = wb().extensionLog();
    }
    assert.ok(log.includes("'$/cancelRequest'"), 'no $/cancelRequest in the extension log');
    for (let i = 0; i < 40 && !/codingDirector\/chat[^\n]*\(-32800\)/.test(log); i++) {
      await new Promise((r) => setTimeout(r, 250));
      log = wb().extensionLog();
    }
    assert.match(log, /codingDirector\/chat[^\n]*\(-32800\)/, 'the server did not answer the cancelled chat with RequestCancelled');
    await wb().screenshot('08-chat-stopped');
  }));

  test('Fix on a broken function applies an edit that makes the file parse', () => step(wb(), 'fix-on-a-broken-function-applies-an-edit', async () => {
    const page = wb().page;
    const file = join(wb().workspace, 'broken.py');
    assert.equal(parses(file), false);
    await openFile(page, 'broken.py');
    await editorContextMenu(page, 'broken.py', 'Coding Director', 'Fix');
    await page.locator(sel.diffEditor).first().waitFor({ timeout: 90_000 });
    await wb().screenshot('09-fix-diff-preview');
    await page.locator(sel.notificationButton).filter({ hasText: /^Apply$/ }).first().click();
    // Applying closes the diff; until then its two sides also match the file's editor selector
    // (the proposal's URI ends in broken.py too), and Ctrl+S on the proposal side opens Save As.
    await page.locator(sel.diffEditor).first().waitFor({ state: 'detached', timeout: 30_000 });
    await page.locator(sel.editor.replace('{file}', 'broken.py')).first().click();
    await page.keyboard.press('Control+S');
    for (let i = 0; i < 40 && !parses(file); i++) await new Promise((r) => setTimeout(r, 250));
    assert.equal(parses(file), true, readFileSync(file, 'utf8'));
    await wb().screenshot('10-fix-applied');
  }));

  test('a Fix that no tier gets right says why, once, and leaves the file alone', () => step(wb(), 'fix-that-fails', async () => {
    const page = wb().page;
    const file = join(wb().workspace, 'broken.js');
    const before = readFileSync(file, 'utf8');
    await openFile(page, 'broken.js');
    await editorContextMenu(page, 'broken.js', 'Coding Director', 'Fix');
    const toast = page.locator(sel.notificationToast).filter({ hasText: 'Fix failed: no tier produced a fix' });
    await toast.first().waitFor({ timeout: 90_000 });
    await wb().screenshot('10b-fix-failed-says-why');
    assert.equal(await toast.count(), 1);
    // Every tier's reason is in the message (the Python answer cannot be spliced into JavaScript).
    // The first tier is that of the routed chain: a bare `add(a, b)` is near the learned router's
    // boundary (P(math) 0.4-0.6), which is not what this test is about.
    assert.match((await toast.first().textContent()) ?? '', /(lead|math): no code block to splice.*senior: .*principal: /);
    assert.equal(readFileSync(file, 'utf8'), before);
    await page.locator(sel.notificationToast).filter({ hasText: 'Fix failed' }).locator('.codicon-notifications-clear, .codicon-close').first().click().catch(() => undefined);
  }));

  test('typing in a function shows ghost text from the server and Tab accepts it', () => step(wb(), 'typing-in-a-function-shows-ghost-text-fr', async () => {
    const page = wb().page;
    await openFile(page, 'complete.py');
    const editor = page.locator(sel.editor.replace('{file}', 'complete.py'));
    await editor.locator('.view-line').first().click();
    await page.keyboard.press('Control+End');
    await page.keyboard.type('    ');
    await page.locator(sel.ghostText).first().waitFor({ timeout: 60_000 });
    await wb().screenshot('11-ghost-text');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Control+S');
    const file = join(wb().workspace, 'complete.py');
    let content = '';
    for (let i = 0; i < 40 && !content.includes('return a * b'); i++) {
      await new Promise((r) => setTimeout(r, 250));
      content = readFileSync(file, 'utf8');
    }
    assert.match(content, /return a \* b/);
    await wb().screenshot('12-completion-accepted');
  }));

  test('the lightbulb (Ctrl+.) offers the server\'s actions; Explain streams into the chat', () => step(wb(), 'lightbulb', async () => {
    const page = wb().page;
    await openFile(page, 'app.py');
    const frame = wb().chatFrame();
    const doneBefore = await frame.locator(chat.doneTurn).count();
    await page.locator(sel.editor.replace('{file}', 'app.py')).locator('.view-line').nth(1).click();
    await page.keyboard.press('Control+.');
    const row = page.locator(sel.codeActionRow).filter({ hasText: 'Explain with Coding Director' }).first();
    await row.waitFor({ timeout: 30_000 });
    for (const title of ['Fix with Coding Director', 'Add docstring with Coding Director', 'Generate tests with Coding Director']) {
      await page.locator(sel.codeActionRow).filter({ hasText: title }).first().waitFor();
    }
    await wb().screenshot('13-lightbulb-actions');
    // Keyboard selection: the action widget list does not take synthetic clicks reliably.
    const focused = async (): Promise<boolean> => ((await row.getAttribute('class')) ?? '').split(/\s+/).includes('focused');
    for (let i = 0; i < 8 && !(await focused()); i++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    const fresh = frame.locator(chat.doneTurn).nth(doneBefore);
    await fresh.locator(chat.answer).filter({ hasText: 'returns the sum' }).waitFor({ timeout: 60_000 });
    assert.match((await fresh.locator(chat.tierBadge).textContent()) ?? '', /^(lead|math)$/);
    await wb().screenshot('14-lightbulb-explain-in-chat');
  }));

  test('/task in the chat works through the roles, runs the tests and proposes the change in the refactor preview', () => step(wb(), 'task', async () => {
    const page = wb().page;
    const frame = wb().chatFrame();
    const doneBefore = await frame.locator(chat.doneTurn).count();
    await frame.locator(chat.prompt).fill('/task Add a multiply function to app.py');
    await frame.locator(chat.prompt).press('Enter');
    const fresh = frame.locator(chat.doneTurn).nth(doneBefore);
    await fresh.locator(chat.answer).filter({ hasText: 'Refactor Preview' }).waitFor({ timeout: 120_000 });
    assert.match((await fresh.locator(chat.answer).textContent()) ?? '', /1 passed, 0 failed/);
    await wb().screenshot('15-task-summary');
    const apply = page.locator('.bulk-edit-panel .monaco-button').filter({ hasText: /^Apply$/ }).first();
    await apply.waitFor({ timeout: 30_000 });
    const file = join(wb().workspace, 'app.py');
    assert.ok(!readFileSync(file, 'utf8').includes('def multiply'), 'nothing is written before the preview is accepted');
    // Edits that need confirmation start unchecked: the user ticks what to accept, then applies.
    await page.locator('.bulk-edit-panel .edit-checkbox').first().click();
    await wb().screenshot('16-task-refactor-preview');
    await apply.click();
    // The open editor holds the applied change (dirty, as after any refactoring); the user saves it.
    await page.locator(sel.editor.replace('{file}', 'app.py')).locator('.view-line').filter({ hasText: 'def multiply' }).first().waitFor({ timeout: 30_000 });
    await page.locator(sel.editor.replace('{file}', 'app.py')).first().click();
    await page.keyboard.press('Control+S');
    let content = '';
    for (let i = 0; i < 40 && !content.includes('def multiply'); i++) {
      await new Promise((r) => setTimeout(r, 250));
      content = readFileSync(file, 'utf8');
    }
    assert.ok(content.includes('def multiply(a, b):\n    return a * b\n'), content);
    await wb().screenshot('17-task-applied');
  }));

  test('the same question again is answered from the team memory\'s cache, with a badge', () => step(wb(), 'cached-answer', async () => {
    const frame = wb().chatFrame();
    let cached = false;
    // The cache key holds the conversation so far: the same question in a fresh chat is the same request.
    // The first answer enters the cache moments after it is recorded (the memory's writer thread).
    for (let attempt = 0; attempt < 5 && !cached; attempt++) {
      await runCommand(wb().page, 'Coding Director: Clear Chat History');
      await frame.locator(chat.turn).first().waitFor({ state: 'detached', timeout: 10_000 });
      await frame.locator(chat.prompt).fill('Which function does app.py print the result of?');
      await frame.locator(chat.prompt).press('Enter');
      const fresh = frame.locator(chat.doneTurn).first();
      await fresh.waitFor({ timeout: 60_000 });
      cached = (await fresh.locator(chat.cachedBadge).count()) === 1;
    }
    assert.ok(cached, 'the repeated question was not served from the cache');
    await wb().screenshot('18a-cached-answer');
  }));

  test('Show Dashboard plots the team memory of the requests above with Chart.js', () => step(wb(), 'dashboard', async () => {
    const page = wb().page;
    await page.keyboard.press('Escape');
    await runCommand(page, 'Coding Director: Show Dashboard');
    const frame = await wb().dashboardFrame();
    await frame.locator(dashboard.ready).waitFor({ timeout: 60_000 });
    // Requests of every kind made above: chat, code actions, completions, task roles.
    const requests = frame.locator(dashboard.tile).filter({ hasText: 'Requests' });
    const detail = (await requests.textContent()) ?? '';
    for (const source of ['chat', 'code_action', 'completion', 'task']) assert.match(detail, new RegExp(`${source} [1-9]`), detail);
    const hits = frame.locator(dashboard.tile).filter({ hasText: 'Cache hit rate' });
    assert.match((await hits.textContent()) ?? '', /[1-9]\d* answered from the cache/);
    assert.ok(Number(await requests.locator(dashboard.tileValue).textContent()) >= 8, detail);
    // Where requests run: the frontier is off in this workbench, and the tile says so.
    const placement = frame.locator(dashboard.tile).filter({ hasText: 'Placement' });
    assert.match((await placement.textContent()) ?? '', /off.*threshold \d\.\d\d: routing\.frontier is off/s);
    // One canvas per chart, drawn by Chart.js (it sizes the canvas's backing store to its box).
    const charts = ['attempts', 'acceptance', 'latency', 'ttft', 'speed', 'escalation', 'router', 'reasons', 'cache', 'completions', 'timeline'];
    const cards = frame.locator(dashboard.card);
    const ids: (string | null)[] = [];
    for (let i = 0; i < (await cards.count()); i++) ids.push(await cards.nth(i).getAttribute('data-chart'));
    assert.deepEqual(ids, charts);
    const canvases = frame.locator(dashboard.canvas);
    assert.equal(await canvases.count(), charts.length);
    for (let i = 0; i < charts.length; i++) {
      const [width, height] = [await canvases.nth(i).getAttribute('width'), await canvases.nth(i).getAttribute('height')];
      assert.ok(Number(width) > 100 && Number(height) > 100, `${charts[i] ?? ''}: ${width ?? '-'} x ${height ?? '-'}`);
    }
    // The failed Fix of broken.js left its reasons.
    assert.ok((await frame.locator(dashboard.reasonRow).count()) > 1);
    await wb().screenshot('18-dashboard');
    await frame.locator('#dashboard section.card[data-chart="timeline"]').scrollIntoViewIfNeeded();
    await wb().screenshot('19-dashboard-timeline-and-reasons');
  }));
});
