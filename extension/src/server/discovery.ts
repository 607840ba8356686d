/**
 * The VS Code side of interpreter discovery: gathers the inputs of {@link candidateInterpreters}
 * (setting, Python extension, workspace folders, private environment) and probes them.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { CONFIG_SECTION } from '../settings/mapping';
import { candidateInterpreters, findInterpreter, probePython, type Discovery } from './interpreter';

/** The part of the Python extension's API used here (`ms-python.python`, `environments` API). */
interface PythonEnvironmentsApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
    resolveEnvironment(environment: { path: string } | string): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
  };
}

/** Folder (in global storage) of the private environment the extension may create. */
export function privateEnvDir(context: vscode.ExtensionContext): string {
  return join(context.globalStorageUri.fsPath, 'server-env');
}

/**
 * The Python extension's active interpreter for the first workspace folder, or `undefined` when the
 * extension is missing or fails (it is optional).
 */
async function pythonExtensionInterpreter(log: vscode.LogOutputChannel): Promise<string | undefined> {
  const extension = vscode.extensions.getExtension<PythonEnvironmentsApi>('ms-python.python');
  if (!extension) return undefined;
  try {
    const api = (extension.isActive ? extension.exports : await extension.activate()) as PythonEnvironmentsApi | undefined;
    const environments = api?.environments;
    if (!environments) return undefined;
    const active = environments.getActiveEnvironmentPath(vscode.workspace.workspaceFolders?.[0]?.uri);
    const resolved = await environments.resolveEnvironment(active);
    return resolved?.executable?.uri?.fsPath ?? active.path;
  } catch (error) {
    log.warn(`Python extension: could not read the active interpreter: ${String(error)}`);
    return undefined;
  }
}

/**
 * Finds a Python that can run the server, logging every candidate tried.
 *
 * @returns the discovery (found interpreter, if any, and every probe result).
 */
export async function discoverInterpreter(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): Promise<Discovery> {
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
  const candidates = candidateInterpreters({
    settingPath: config.get<string>('server.pythonPath'),
    pythonExtensionPath: await pythonExtensionInterpreter(log),
    workspaceFolders: (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath),
    privateEnvDir: privateEnvDir(context),
    platform: process.platform,
    home: homedir(),
  });
  const discovery = await findInterpreter(candidates, (python) => probePython(python));
  for (const { candidate, probe } of discovery.tried) {
    const what = probe.serverOk
      ? `usable (Python ${probe.pythonVersion ?? '?'}, coding_director ${probe.serverVersion ?? '?'})`
      : `not usable: ${probe.error ?? 'unknown reason'}`;
    log.info(`interpreter ${candidate.path} [${candidate.source}]: ${what}`);
  }
  return discovery;
}
