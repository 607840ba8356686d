/**
 * The private environment: a virtual environment in the extension's global storage with the server
 * package installed from the copy shipped inside the .vsix (`extension/out/python/*.whl`, built by
 * `npm run bundle-server`), or from the repository itself when running from source.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { venvPython } from './interpreter';

/**
 * What `pip install` should install: the bundled wheel (newest name first) or, without one, the
 * extension root when it holds `pyproject.toml` (development from a checkout). `undefined` if neither.
 */
export function serverPackageSource(extensionRoot: string): string | undefined {
  const wheelDir = join(extensionRoot, 'extension', 'out', 'python');
  if (existsSync(wheelDir)) {
    const wheels = readdirSync(wheelDir).filter((n) => /^coding_director-.*\.whl$/.test(n)).sort().reverse();
    if (wheels[0]) return join(wheelDir, wheels[0]);
  }
  return existsSync(join(extensionRoot, 'pyproject.toml')) ? extensionRoot : undefined;
}

/** Runs a process, sending each output line to `onLine`; resolves with the exit code. Killed on cancellation. */
function run(command: string, args: string[], onLine: (line: string) => void, token: vscode.CancellationToken): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const cancel = token.onCancellationRequested(() => child.kill());
    let buffer = '';
    const feed = (chunk: Buffer): void => {
      buffer += chunk.toString();
      const lines = buffer.split(/\r?\n/);
      buffer = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) onLine(line);
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    child.on('error', (error) => {
      cancel.dispose();
      reject(error);
    });
    child.on('close', (code) => {
      cancel.dispose();
      if (buffer.trim()) onLine(buffer);
      resolve(code ?? -1);
    });
  });
}

/**
 * Asks the user whether to create the private environment and, if they agree, creates it with
 * `basePython -m venv` and installs the server package, showing progress in a notification.
 *
 * @returns the environment's python, or `undefined` when the user declined, cancelled, or it failed.
 */
export async function offerPrivateEnv(
  context: vscode.ExtensionContext,
  envDir: string,
  basePython: string | undefined,
  log: vscode.LogOutputChannel,
): Promise<string | undefined> {
  const source = serverPackageSource(context.extensionPath);
  if (!basePython || !source) {
    const why = !basePython ? 'No Python 3.11 or newer was found' : 'The server package is missing from this installation';
    const choice = await vscode.window.showErrorMessage(
      `Coding Director: ${why}. Set "codingDirector.server.pythonPath" to a Python that has the coding_director package.`,
      'Open Settings',
    );
    if (choice === 'Open Settings') await vscode.commands.executeCommand('workbench.action.openSettings', 'codingDirector.server.pythonPath');
    return undefined;
  }
  const choice = await vscode.window.showWarningMessage(
    'Coding Director: no Python with the coding_director package was found. Create a private environment for the server (a download of its Python dependencies)?',
    'Create Environment',
    'Open Settings',
  );
  if (choice === 'Open Settings') {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'codingDirector.server.pythonPath');
    return undefined;
  }
  if (choice !== 'Create Environment') return undefined;

  const python = venvPython(envDir, process.platform);
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Coding Director: setting up the server', cancellable: true },
    async (progress, token) => {
      const onLine = (line: string): void => {
        log.info(`[setup] ${line}`);
        const collecting = /^(Collecting|Downloading|Installing|Successfully)\b.*/.exec(line.trim());
        if (collecting) progress.report({ message: collecting[0].slice(0, 80) });
      };
      try {
        progress.report({ message: 'creating the virtual environment', increment: 10 });
        if ((await run(basePython, ['-m', 'venv', envDir], onLine, token)) !== 0) throw new Error('python -m venv failed');
        progress.report({ message: 'installing the server package', increment: 20 });
        const code = await run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--upgrade', source], onLine, token);
        if (code !== 0) throw new Error(`pip install exited with ${code}`);
        progress.report({ message: 'done', increment: 70 });
        log.info(`private environment ready: ${python}`);
        return python;
      } catch (error) {
        if (token.isCancellationRequested) {
          log.warn('private environment setup cancelled');
          return undefined;
        }
        log.error(`private environment setup failed: ${String(error)}`);
        void vscode.window.showErrorMessage(`Coding Director: setting up the server failed (${String(error)}). See the log for details.`);
        return undefined;
      }
    },
  );
}
