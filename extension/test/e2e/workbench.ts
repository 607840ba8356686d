/**
 * Runs a real VS Code workbench for the end-to-end tests: code-server 4.100.3 with a fresh profile,
 * the extension installed from the built .vsix, opened in Debian's headless Chromium through
 * playwright-core (see /work/shared/E2E-VSCODE.md). Prerequisites: `scripts/e2e-setup`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type FrameLocator, type Page } from 'playwright-core';
import { chat, dashboard, sel } from './selectors';

/** Repository root (this file is bundled to extension/out/e2e/). */
export const repoRoot = join(__dirname, '..', '..', '..');
export const cacheDir = process.env.E2E_CACHE ?? join(repoRoot, '.e2e-cache');
export const codeServerBin = join(cacheDir, 'node_modules', '.bin', 'code-server');
export const chromiumBin = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const vsixPath = process.env.CODING_DIRECTOR_VSIX ?? join(repoRoot, 'coding-director.vsix');
export const outputRoot = join(repoRoot, 'test-output', 'e2e');
export const serverPython = process.env.CODING_DIRECTOR_PYTHON ?? join(repoRoot, '.venv', 'bin', 'python');

/** Why the e2e tests cannot run here, or undefined when everything needed is present. */
export function missingPrerequisite(): string | undefined {
  const reason = !existsSync(codeServerBin)
    ? `code-server is not installed (${codeServerBin}); run scripts/e2e-setup`
    : !existsSync(chromiumBin)
      ? `chromium is not installed (${chromiumBin}); run scripts/e2e-setup`
      : !existsSync(vsixPath)
        ? `no .vsix at ${vsixPath}; run npm run package`
        : undefined;
  // The README's test command sets this: there a missing prerequisite is a failure, not a skip.
  if (reason !== undefined && process.env.CODING_DIRECTOR_E2E_REQUIRED) throw new Error(reason);
  return reason;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => Promise<boolean>, what: string, attempts = 120, delayMs = 250): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, delayMs));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** The Ollama emulator (tests/emulator) in its own process. */
export interface Emulator {
  readonly url: string;
  stop(): void;
}

/** Starts `python -m tests.emulator --port 0 --scenario FILE` and reads its URL from stdout. */
export async function startEmulator(scenario: unknown, dir: string): Promise<Emulator> {
  const file = join(dir, 'scenario.json');
  writeFileSync(file, JSON.stringify(scenario, null, 2));
  const child = spawn(serverPython, ['-m', 'tests.emulator', '--host', '127.0.0.1', '--port', '0', '--scenario', file], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('http://'));
      if (line) resolve(line.trim());
    });
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}: ${stderr}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

/** Options of {@link startWorkbench}. */
export interface WorkbenchOptions {
  /** Name of the run: screenshots go to test-output/e2e/<name>/. */
  readonly name: string;
  /** Files of the workspace folder (relative path -> content). */
  readonly files: Readonly<Record<string, string>>;
  /** Extra user settings (e.g. codingDirector.*). */
  readonly settings: Readonly<Record<string, unknown>>;
  /** code-server `--log` level (`trace` makes LogOutputChannels keep languageclient's message trace). */
  readonly logLevel?: 'trace' | 'debug' | 'info';
}

/** A running workbench. */
export interface Workbench {
  readonly page: Page;
  readonly workspace: string;
  readonly outDir: string;
  readonly userDataDir: string;
  /** Saves test-output/e2e/<name>/<step>.png. */
  screenshot(step: string): Promise<void>;
  /** The chat webview's content frame. */
  chatFrame(): FrameLocator;
  /** The dashboard panel's content frame, once it is open (waits up to 30 s for it). */
  dashboardFrame(): Promise<FrameLocator>;
  /** Text of the extension's log files (LogOutputChannel) so far. */
  extensionLog(): string;
  stop(): Promise<void>;
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

/** Starts code-server with a fresh profile and the .vsix installed, and opens it in Chromium. */
export async function startWorkbench(options: WorkbenchOptions): Promise<Workbench> {
  const scratch = mkdtempSync(join(tmpdir(), 'cd-e2e-'));
  const outDir = join(outputRoot, options.name);
  mkdirSync(outDir, { recursive: true });
  const workspace = join(scratch, 'workspace');
  for (const [relative, content] of Object.entries(options.files)) {
    const path = join(workspace, relative);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content);
  }
  const userDataDir = join(scratch, 'user-data');
  const extensionsDir = join(scratch, 'extensions');
  const config = join(scratch, 'config.yaml');
  const port = await freePort();
  writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  writeFileSync(
    join(userDataDir, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'extensions.ignoreRecommendations': true,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'editor.wordBasedSuggestions': 'off',
        'editor.quickSuggestions': { other: false, comments: false, strings: false },
        'editor.suggestOnTriggerCharacters': false,
        'editor.inlineSuggest.enabled': true,
        'workbench.tips.enabled': false,
        'security.workspace.trust.enabled': false,
        'files.autoSave': 'off',
        ...options.settings,
      },
      null,
      2,
    ),
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: join(scratch, 'home'),
    XDG_CONFIG_HOME: join(scratch, 'xdg-config'),
    XDG_DATA_HOME: join(scratch, 'xdg-data'),
    XDG_CACHE_HOME: join(scratch, 'xdg-cache'),
  };
  const baseArgs = ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--config', config];
  const install = spawnSync(codeServerBin, [...baseArgs, '--install-extension', vsixPath], { env, encoding: 'utf8' });
  if (install.status !== 0) throw new Error(`installing the .vsix failed: ${install.stdout}${install.stderr}`);

  const server: ChildProcess = spawn(
    codeServerBin,
    [...baseArgs, ...(options.logLevel ? ['--log', options.logLevel] : []), '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', workspace],
    { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let serverLog = '';
  server.stdout?.on('data', (d: Buffer) => (serverLog += d.toString()));
  server.stderr?.on('data', (d: Buffer) => (serverLog += d.toString()));
  await waitFor(async () => {
    try {
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
    } catch {
      return false;
    }
  }, 'code-server /healthz');

  const context: BrowserContext = await chromium.launchPersistentContext(join(scratch, 'browser'), {
    executablePath: chromiumBin,
    headless: true,
    viewport: { width: 1500, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  await context.route('**/*', (route) => {
    const host = new URL(route.request().url()).hostname;
    return host === '127.0.0.1' || host.endsWith('.localhost') || host === 'localhost' ? route.continue() : route.abort();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
  await page.locator(sel.workbench).waitFor({ timeout: 60_000 });

  const extensionLog = (): string =>
    listFiles(join(userDataDir, 'logs'))
      .filter((f) => f.includes('coding-director'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
  return {
    page,
    workspace,
    outDir,
    userDataDir,
    async screenshot(step: string) {
      await page.screenshot({ path: join(outDir, `${step}.png`) });
    },
    chatFrame() {
      return page.frameLocator(sel.chatViewFrame).frameLocator(sel.webviewInnerFrame);
    },
    async dashboardFrame() {
      // Both our webviews (the chat view and the dashboard panel) are iframes of this extension.
      for (let attempt = 0; attempt < 120; attempt++) {
        const outer = page.locator(sel.chatOuterFrame);
        for (let i = 0; i < (await outer.count()); i++) {
          const frame = outer.nth(i).contentFrame().frameLocator(sel.webviewInnerFrame);
          if ((await frame.locator(dashboard.root).count()) > 0) return frame;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error('the dashboard webview did not appear');
    },
    extensionLog,
    async stop() {
      writeFileSync(join(outDir, 'code-server.log'), serverLog);
      writeFileSync(join(outDir, 'extension.log'), extensionLog());
      await context.close().catch(() => undefined);
      if (server.pid) {
        try {
          process.kill(-server.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      rmSync(scratch, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

/** Opens a workspace file through Quick Open (Ctrl+P) and waits for its editor. */
export async function openFile(page: Page, relativePath: string): Promise<void> {
  await page.keyboard.press('Escape'); // close a menu or widget a previous step may have left open
  await page.keyboard.press('Control+P');
  const input = page.locator(sel.quickInput);
  await input.waitFor();
  await input.fill(relativePath);
  // Wait until the list is filtered (recently opened files show first, before the search result).
  const name = relativePath.split('/').pop() ?? relativePath;
  const row = page.locator(sel.quickInputRow).first().filter({ hasText: name });
  await row.waitFor();
  await page.keyboard.press('Enter');
  await page.locator(sel.editor.replace('{file}', relativePath)).waitFor({ timeout: 30_000 });
}

/** Runs a command by its title from the command palette (Ctrl+Shift+P). */
export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('Control+Shift+P');
  const input = page.locator(sel.quickInput);
  await input.waitFor();
  await input.fill(`>${title}`);
  await page.locator(sel.quickInputRow).filter({ hasText: title }).first().waitFor();
  await page.keyboard.press('Enter');
}

/** The Coding Director status bar item (server state). */
export function statusItem(page: Page) {
  return page.locator(sel.statusItem).filter({ hasText: /Coding Director|CD:/ }).first();
}

/** Opens the chat view through its activity-bar entry and waits for the prompt box. */
export async function openChat(workbench: Workbench): Promise<void> {
  await workbench.page.locator(sel.activityBarEntry).click();
  await workbench.chatFrame().locator(chat.prompt).waitFor({ timeout: 30_000 });
}

/**
 * Right-clicks the first line of `relativePath`'s editor and picks `submenu` > `item` from the context menu.
 * Each menu entry is awaited visible before the pointer moves, so the submenu is open when the click lands.
 */
export async function editorContextMenu(page: Page, relativePath: string, submenu: string, item: string): Promise<void> {
  const line = page.locator(sel.editor.replace('{file}', relativePath)).locator('.view-line').first();
  await line.click();
  await line.click({ button: 'right' });
  const parent = page.locator(sel.contextMenuItem).filter({ hasText: new RegExp(`^${submenu}$`) }).first();
  await parent.waitFor({ state: 'visible' });
  await parent.hover();
  const child = page.locator(sel.contextMenuItem).filter({ hasText: new RegExp(`^${item}$`) }).first();
  await child.waitFor({ state: 'visible' });
  await child.hover();
  await child.click();
  await child.waitFor({ state: 'hidden' });
}

/** Runs one e2e step; on failure saves FAILED-<name>.png before rethrowing. */
export async function step(wb: Workbench, name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    await wb.screenshot(`FAILED-${name}`).catch(() => undefined);
    throw error;
  }
}
