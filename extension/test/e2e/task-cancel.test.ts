/**
 * End-to-end, part 5: Stop in the chat panel cancels a running `/task`: first while the coder's answer
 * streams (the model stream is closed and no later role is asked), then while the project's tests run
 * (the test command's process is killed). Screenshots: test-output/e2e/task-cancel/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chat, sel } from './selectors';
import { missingPrerequisite, openChat, openFile, serverPython, startEmulator, startWorkbench, step, statusItem, type Emulator, type Workbench } from './workbench';

const skip = missingPrerequisite();

/** One entry of the emulator's `GET /_emulator/requests` log. */
interface Logged {
  readonly path: string;
  readonly model: string | null;
  readonly chunks_sent: number;
  readonly completed: boolean;
  readonly closed_early: boolean;
}

const CODER_REPLY =
  'app.py\n<<<<<<< SEARCH\ndef add(a, b):\n    return a + b\n=======\ndef add(a, b):\n    return a + b\n\n\ndef multiply(a, b):\n    return a * b\n>>>>>>> REPLACE\n';

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Whether `pid` runs (a zombie waiting for its new parent to reap it does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 1).trim().split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('Coding Director cancels a running /task', { skip }, () => {
  let emulator: Emulator | undefined;
  let started: Workbench | undefined;
  const wb = (): Workbench => {
    if (!started) throw new Error('the workbench did not start');
    return started;
  };
  const scratch = mkdtempSync(join(tmpdir(), 'cd-e2e-task-cancel-'));
  const pidFile = join(scratch, 'tests.pid');
  const log = async (): Promise<Logged[]> => (await fetch(`${emulator?.url}/_emulator/requests`)).json() as Promise<Logged[]>;
  const chats = async (): Promise<Logged[]> => (await log()).filter((r) => r.path === '/api/chat');

  before(async () => {
    const emu = await startEmulator(
      [
        {
          name: 'e2e-task:latest',
          reply: 'NO CHANGES',
          reply_by_system: [
            ['You are the planner', '```json\n{"files": ["app.py"], "steps": ["add multiply"], "test": "npm test"}\n```'],
            ['You are the coder', CODER_REPLY],
            ['You are the reviewer', '```json\n[]\n```'],
          ],
          // About 80 tokens at 100 ms: the coder streams for several seconds, long enough to press Stop.
          tokens_per_chunk: 1,
          chunk_delay_ms: 100,
        },
        { name: 'e2e-router:latest', reply: 'general generate' },
      ],
      scratch,
    );
    emulator = emu;
    const tiers = { router: 'e2e-router', math: 'e2e-task', lead: 'e2e-task', senior: 'e2e-task', principal: 'e2e-task' };
    started = await startWorkbench({
      name: 'task-cancel',
      files: {
        'app.py': 'def add(a, b):\n    return a + b\n',
        // The project's tests hang: the task's test run must be killed by Stop (its pid is written outside
        // the task's scratch copy, so this test can watch it).
        'package.json': JSON.stringify({ name: 'calc', private: true, scripts: { test: `sleep 300 & echo $! > ${pidFile}; wait` } }, null, 2),
      },
      settings: {
        'codingDirector.server.pythonPath': serverPython,
        'codingDirector.ollama.host': emu.url,
        'codingDirector.routing.router': 'offline',
        ...Object.fromEntries(Object.entries(tiers).map(([tier, model]) => [`codingDirector.tiers.${tier}.model`, model])),
      },
    });
  });

  after(async () => {
    await started?.stop();
    emulator?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('Stop while the coder streams closes the model stream and asks no one else', () => step(wb(), 'stop-while-coding', async () => {
    await openFile(wb().page, 'app.py');
    await statusItem(wb().page).waitFor({ timeout: 60_000 });
    await wb().page.locator(`${sel.statusItem} .codicon-hubot`).first().waitFor({ timeout: 90_000 });
    await openChat(wb());
    const frame = wb().chatFrame();
    await frame.locator(chat.prompt).fill('/task Add a multiply function to app.py');
    await frame.locator(chat.prompt).press('Enter');
    // The planner answered; the coder's stream is under way (chunks sent, not complete).
    const coding = await until('the coder to stream', async () => {
      const list = await chats();
      const last = list.at(-1);
      return list.length >= 2 && last && last.chunks_sent > 0 && !last.completed ? list.length : undefined;
    }, 90_000);
    await wb().screenshot('01-task-coding');
    await frame.locator(chat.stop).click();
    await frame.locator(chat.cancelledTurn).last().waitFor({ timeout: 30_000 });
    const closed = await until('the coder stream to be closed', async () => {
      const entry = (await chats())[coding - 1];
      return entry?.closed_early ? entry : undefined;
    }, 15_000);
    assert.ok(!closed.completed);
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal((await chats()).length, coding, 'no role is asked after Stop');
    assert.ok(!existsSync(pidFile), 'the tests never started');
    assert.ok(!readFileSync(join(wb().workspace, 'app.py'), 'utf8').includes('multiply'), 'the workspace is unchanged');
    await wb().screenshot('02-task-stopped-while-coding');
  }));

  test('Stop while the tests run kills the test command', () => step(wb(), 'stop-while-testing', async () => {
    const frame = wb().chatFrame();
    const cancelledBefore = await frame.locator(chat.cancelledTurn).count();
    await frame.locator(chat.prompt).fill('/task Add a multiply function to app.py');
    await frame.locator(chat.prompt).press('Enter');
    const pid = await until('the test command to start', () => {
      const text = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : '';
      return text ? Number(text) : undefined;
    }, 120_000);
    assert.ok(alive(pid), 'the test command runs');
    const chatsBefore = (await chats()).length;
    await wb().screenshot('03-task-testing');
    await frame.locator(chat.stop).click();
    await frame.locator(chat.cancelledTurn).nth(cancelledBefore).waitFor({ timeout: 30_000 });
    await until('the test command to be killed', () => (alive(pid) ? undefined : true), 15_000);
    assert.equal((await chats()).length, chatsBefore, 'no model is asked after Stop');
    assert.ok(!readFileSync(join(wb().workspace, 'app.py'), 'utf8').includes('multiply'), 'the workspace is unchanged');
    await wb().screenshot('04-task-stopped-while-testing');
  }));
});
