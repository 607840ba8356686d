/**
 * Finding a Python interpreter that can run the server (`python -m coding_director serve`).
 *
 * The order is fixed by the product: the `codingDirector.server.pythonPath` setting, the Python
 * extension's active interpreter, each workspace folder's `.venv`, the private environment in the
 * extension's global storage (if it was created earlier), then `python3` on PATH. The first
 * interpreter that can import `coding_director` (and `pygls`) and is Python >= 3.11 wins.
 *
 * Everything here is free of `vscode` so that it can be unit-tested; spawning is in {@link probePython}.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';

/** Where a candidate interpreter came from, in priority order. */
export type CandidateSource = 'setting' | 'pythonExtension' | 'workspaceVenv' | 'privateEnv' | 'path';

/** One interpreter to try. */
export interface InterpreterCandidate {
  /** Executable path, or a bare command name looked up on PATH (`python3`). */
  readonly path: string;
  readonly source: CandidateSource;
}

/** What {@link candidateInterpreters} needs to know about the environment. */
export interface CandidateInputs {
  /** Value of `codingDirector.server.pythonPath` (may be empty, may use `~` or `${workspaceFolder}`). */
  readonly settingPath?: string;
  /** The Python extension's active interpreter for the workspace, if that extension is installed. */
  readonly pythonExtensionPath?: string;
  /** File-system paths of the workspace folders, in order. */
  readonly workspaceFolders: readonly string[];
  /** Root of the private environment in the extension's global storage. */
  readonly privateEnvDir?: string;
  /** `process.platform`. */
  readonly platform: NodeJS.Platform;
  /** Home directory, for `~` expansion. */
  readonly home: string;
}

/** The `python` executable inside the virtual environment rooted at `envDir`. */
export function venvPython(envDir: string, platform: NodeJS.Platform): string {
  return platform === 'win32' ? join(envDir, 'Scripts', 'python.exe') : join(envDir, 'bin', 'python');
}

/**
 * Expands `~`, `${userHome}` and `${workspaceFolder}` (the first folder) in a configured path.
 * Returns `undefined` for an empty value.
 */
export function expandConfiguredPath(value: string | undefined, home: string, workspaceFolder?: string): string | undefined {
  const trimmed = value?.trim();
  if (!trimmed) return undefined;
  let result = trimmed.replace(/\$\{userHome\}/g, home);
  if (workspaceFolder !== undefined) result = result.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  if (result === '~') return home;
  if (result.startsWith('~/') || result.startsWith('~\\')) return join(home, result.slice(2));
  return result;
}

/**
 * The interpreters to try, best first, without duplicates (the first occurrence keeps its source).
 *
 * @returns candidates in the order setting, Python extension, workspace `.venv`s, private environment,
 *   `python3` (`python` on Windows).
 */
export function candidateInterpreters(inputs: CandidateInputs): InterpreterCandidate[] {
  const list: InterpreterCandidate[] = [];
  const push = (path: string | undefined, source: CandidateSource): void => {
    if (path && !list.some((c) => c.path === path)) list.push({ path, source });
  };
  push(expandConfiguredPath(inputs.settingPath, inputs.home, inputs.workspaceFolders[0]), 'setting');
  const fromExtension = inputs.pythonExtensionPath?.trim();
  push(fromExtension === '' ? undefined : fromExtension, 'pythonExtension');
  for (const folder of inputs.workspaceFolders) push(venvPython(join(folder, '.venv'), inputs.platform), 'workspaceVenv');
  if (inputs.privateEnvDir) push(venvPython(inputs.privateEnvDir, inputs.platform), 'privateEnv');
  push(inputs.platform === 'win32' ? 'python' : 'python3', 'path');
  return list;
}

/** What probing one interpreter found. */
export interface ProbeResult {
  /** The interpreter ran and printed a probe report. */
  readonly ran: boolean;
  /** `sys.version_info >= (3, 11)`. */
  readonly pythonOk: boolean;
  /** `coding_director` and `pygls` are importable. */
  readonly serverOk: boolean;
  /** e.g. `3.11.7`. */
  readonly pythonVersion?: string;
  /** `coding_director.__version__`, when importable. */
  readonly serverVersion?: string;
  /** Why the interpreter is unusable (spawn error, missing module, ...). */
  readonly error?: string;
}

/**
 * Python source run with `-c` by {@link probePython}. It prints one JSON line and never raises.
 * `coding_director` is imported (its import is light: the package loads submodules lazily);
 * `pygls` is only located, not imported.
 */
export const PROBE_SCRIPT = [
  'import importlib.util, json, sys',
  'r = {"python": "%d.%d.%d" % sys.version_info[:3], "pythonOk": sys.version_info >= (3, 11)}',
  'try:',
  '    import coding_director',
  '    r["server"] = getattr(coding_director, "__version__", "?")',
  '    r["serverOk"] = importlib.util.find_spec("pygls") is not None',
  '    if not r["serverOk"]: r["error"] = "pygls is not installed"',
  'except Exception as e:',
  '    r["serverOk"] = False',
  '    r["error"] = "%s: %s" % (type(e).__name__, e)',
  'print("CODING_DIRECTOR_PROBE " + json.dumps(r))',
].join('\n');

/**
 * Parses the output of {@link PROBE_SCRIPT}. Lines before the marker (e.g. from `sitecustomize`) are ignored.
 */
export function parseProbeOutput(stdout: string): ProbeResult {
  const line = stdout.split(/\r?\n/).find((l) => l.startsWith('CODING_DIRECTOR_PROBE '));
  if (!line) return { ran: false, pythonOk: false, serverOk: false, error: 'no probe report in the output' };
  try {
    const data = JSON.parse(line.slice('CODING_DIRECTOR_PROBE '.length)) as Record<string, unknown>;
    const pythonOk = data.pythonOk === true;
    const serverOk = pythonOk && data.serverOk === true;
    const error = typeof data.error === 'string' ? data.error : pythonOk ? undefined : 'Python 3.11 or newer is needed';
    return {
      ran: true,
      pythonOk,
      serverOk,
      pythonVersion: typeof data.python === 'string' ? data.python : undefined,
      serverVersion: typeof data.server === 'string' ? data.server : undefined,
      error: serverOk ? undefined : (error ?? 'coding_director is not importable'),
    };
  } catch (e) {
    return { ran: false, pythonOk: false, serverOk: false, error: `unreadable probe report: ${String(e)}` };
  }
}

/** Probes one interpreter. Never rejects. */
export type Probe = (python: string) => Promise<ProbeResult>;

/**
 * Runs {@link PROBE_SCRIPT} with `python` (a path or a command on PATH).
 *
 * @param timeoutMs - the interpreter is killed after this many milliseconds (a hung interpreter is unusable).
 */
export function probePython(python: string, timeoutMs = 20_000, env: NodeJS.ProcessEnv = process.env): Promise<ProbeResult> {
  return new Promise((resolve) => {
    execFile(python, ['-c', PROBE_SCRIPT], { timeout: timeoutMs, env, windowsHide: true }, (error, stdout) => {
      const parsed = parseProbeOutput(stdout);
      if (parsed.ran) resolve(parsed);
      else resolve({ ...parsed, error: error ? error.message : parsed.error });
    });
  });
}

/** The outcome of {@link findInterpreter}. */
export interface Discovery {
  /** The first candidate that can run the server. */
  readonly found?: { readonly candidate: InterpreterCandidate; readonly probe: ProbeResult };
  /** Every candidate probed, in order, with its result (for the log and for choosing a base interpreter). */
  readonly tried: readonly { readonly candidate: InterpreterCandidate; readonly probe: ProbeResult }[];
}

/**
 * Probes candidates in order and stops at the first one that can run the server.
 *
 * @param candidates - from {@link candidateInterpreters}.
 * @param probe - usually {@link probePython}; injected for tests.
 */
export async function findInterpreter(candidates: readonly InterpreterCandidate[], probe: Probe): Promise<Discovery> {
  const tried: { candidate: InterpreterCandidate; probe: ProbeResult }[] = [];
  for (const candidate of candidates) {
    const result = await probe(candidate.path);
    tried.push({ candidate, probe: result });
    if (result.serverOk) return { found: { candidate, probe: result }, tried };
  }
  return { tried };
}

/**
 * A Python >= 3.11 among the probed candidates to create the private environment with (any source but
 * `privateEnv`, which is what would be created), or `undefined` when there is none.
 */
export function baseInterpreterForPrivateEnv(discovery: Discovery): string | undefined {
  return discovery.tried.find((t) => t.probe.pythonOk && t.candidate.source !== 'privateEnv')?.candidate.path;
}

/**
 * The arguments that start the server with a found interpreter (`-m coding_director serve`).
 * `-u`: unbuffered stderr, so the log shows the server's messages as they happen.
 */
export function serverArgs(): string[] {
  return ['-u', '-m', 'coding_director', 'serve'];
}
