/**
 * The language client: finds an interpreter, starts `python -m coding_director serve` over stdio with
 * vscode-languageclient (which also provides the LSP 3.18 inline completions and code actions), routes
 * the custom notifications, restarts the server after a crash (bounded) and when a setting that needs it
 * changes, and answers `workspace/configuration` for the `codingDirector` section with the mapped settings.
 */
import * as vscode from 'vscode';
import {
  CloseAction,
  CodeActionRequest,
  CodeActionResolveRequest,
  CodeActionTriggerKind,
  DidChangeConfigurationNotification,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  RevealOutputChannelOn,
  State,
  type CloseHandlerResult,
  type ErrorHandlerResult,
  type LanguageClientOptions,
  type ResponseError,
  type ServerOptions,
  type CodeAction as LspCodeAction,
  type Command as LspCommand,
} from 'vscode-languageclient/node';
import { ASK_IN_CHAT_COMMAND, CHAT_EVENT_METHOD, CHAT_METHOD, FEEDBACK_METHOD, STATS_METHOD, STATUS_METHOD, TASK_METHOD, type Assistance, type ChatEvent, type ChatParams, type FeedbackParams, type StatsParams, type StatsReport, type StatusParams } from '../protocol';
import { CONFIG_SECTION } from '../settings/mapping';
import { OPEN_SETTINGS_URI } from '../protocol';
import { completionsEnabled, currentServerSettings } from '../settings/read';
import type { StatusBar } from '../status/statusBar';
import { privateEnvDir, discoverInterpreter } from './discovery';
import { baseInterpreterForPrivateEnv, serverArgs } from './interpreter';
import { offerPrivateEnv } from './privateEnv';
import { RestartBudget } from './restartPolicy';
import { showActionFailure } from '../commands/editorCommands';

/** Languages the server handles (tree-sitter grammars on the server side). */
export const SERVER_LANGUAGES = ['python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go', 'rust', 'java', 'c', 'cpp'] as const;

/** Receives what the server pushes. */
export interface ServerListener {
  onStatus(params: StatusParams): void;
  onChatEvent(event: ChatEvent): void;
  /**
   * Runs `codingDirector.askInChat` (the command the server's Explain / Generate tests actions carry)
   * in the chat panel. The server implements the command too, for editors without our chat panel;
   * in VS Code the client's `executeCommand` middleware sends it here instead.
   */
  onAskInChat(argument: unknown): Promise<void>;
}

/** Starts, restarts and talks to the server. */
export class ServerManager implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<void> | undefined;
  private readonly budget = new RestartBudget(4, 3 * 60_000);
  private readonly disposables: { dispose(): unknown }[] = [];
  private stoppingOnPurpose = false;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
    private readonly status: StatusBar,
    private readonly listener: ServerListener,
  ) {}

  /** True while a client exists and is running. */
  get running(): boolean {
    return this.client?.state === State.Running;
  }

  /** Starts the server unless it is already starting or running. Never rejects; failures show in the status bar. */
  start(): Promise<void> {
    this.starting ??= this.doStart().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async doStart(): Promise<void> {
    if (this.client) return;
    this.status.update({ origin: 'client', state: 'discovering', message: 'Looking for a Python with the coding_director package…' });
    let discovery = await discoverInterpreter(this.context, this.log);
    let python = discovery.found?.candidate.path;
    if (!python) {
      this.status.update({ origin: 'client', state: 'noPython', message: 'No Python with the coding_director package was found.' });
      this.status.update({ origin: 'client', state: 'installing', message: 'Offering to set up a private environment…' });
      python = await offerPrivateEnv(this.context, privateEnvDir(this.context), baseInterpreterForPrivateEnv(discovery), this.log);
      if (python) {
        discovery = await discoverInterpreter(this.context, this.log);
        python = discovery.found?.candidate.path;
      }
      if (!python) {
        this.status.update({ origin: 'client', state: 'noPython', message: 'No Python with the coding_director package. Set codingDirector.server.pythonPath or restart the server to set up a private environment.' });
        return;
      }
    }
    await this.launch(python);
  }

  private async launch(python: string): Promise<void> {
    const configFile = vscode.workspace.getConfiguration(CONFIG_SECTION).get<string>('server.configFile', '').trim();
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
    if (configFile) env.CODING_DIRECTOR_CONFIG = configFile;
    const serverOptions: ServerOptions = {
      command: python,
      args: serverArgs(),
      options: { env, cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: SERVER_LANGUAGES.flatMap((language) => [
        { scheme: 'file', language },
        { scheme: 'untitled', language },
      ]),
      outputChannel: this.log,
      initializationOptions: currentServerSettings(),
      errorHandler: {
        error: (_error, _message, count): ErrorHandlerResult => ({ action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown }),
        closed: (): CloseHandlerResult => {
          if (this.stoppingOnPurpose) return { action: CloseAction.DoNotRestart, handled: true };
          if (this.budget.tryRestart(Date.now())) {
            this.log.warn('the server exited unexpectedly; restarting it');
            this.status.update({ origin: 'client', state: 'starting', message: 'Restarting the server after a crash…' });
            return { action: CloseAction.Restart, handled: true };
          }
          this.status.update({ origin: 'client', state: 'failed', message: 'The server crashed repeatedly and was not restarted. Use "Restart Server" from this menu after fixing the cause (see the log).' });
          return { action: CloseAction.DoNotRestart, message: 'Coding Director: the server crashed repeatedly and was not restarted; see "Coding Director: Show Logs".' };
        },
      },
      // Failures reach the user once, as our own messages (below, and from the commands): never as the
      // client library's generic "Request ... failed." pop-ups.
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      middleware: {
        // A lightbulb Fix that no tier got right: say why (the server's RequestFailed message lists
        // every tier's reason) instead of silently doing nothing.
        resolveCodeAction: async (item, token, next) => {
          try {
            return await next(item, token);
          } catch (error) {
            showActionFailure(item.title.replace(/ with Coding Director$/, ''), error);
            return item;
          }
        },
        workspace: {
          configuration: async (params, token, next) => {
            const answers: unknown = await next(params, token);
            if (!Array.isArray(answers)) return answers as ResponseError;
            const defaults = answers as unknown[];
            return params.items.map((item, i): unknown =>
              item.section === CONFIG_SECTION ? currentServerSettings(item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined) : defaults[i],
            );
          },
        },
        // The server's askInChat shows the answer as a document; VS Code has the richer chat panel.
        executeCommand: (command, args: unknown[], next): Promise<unknown> =>
          command === ASK_IN_CHAT_COMMAND ? this.listener.onAskInChat(args[0]) : Promise.resolve(next(command, args) as unknown),
        provideInlineCompletionItems: (document, position, context, token, next) =>
          completionsEnabled() ? next(document, position, context, token) : null,
        window: {
          // "Open settings" of the server's built-in-model notice (window/showMessageRequest): the
          // server asks to show OPEN_SETTINGS_URI, which only this extension knows how to open.
          showDocument: async (params, token, next) => {
            if (params.uri === OPEN_SETTINGS_URI) {
              await vscode.commands.executeCommand('workbench.action.openSettings', `${CONFIG_SECTION}.embedded`);
              return { success: true };
            }
            return next(params, token);
          },
        },
      },
    };
    const client = new LanguageClient('codingDirector', 'Coding Director', serverOptions, clientOptions);
    this.client = client;
    this.disposables.push(
      client.onNotification(STATUS_METHOD, (params: StatusParams) => {
        this.status.update({ origin: 'server', params });
      }),
      client.onNotification(CHAT_EVENT_METHOD, (event: ChatEvent) => this.listener.onChatEvent(event)),
      client.onDidChangeState((change) => {
        if (change.newState === State.Stopped && !this.stoppingOnPurpose && this.status.snapshot.origin === 'server') {
          this.status.update({ origin: 'client', state: 'stopped', message: 'The server stopped.' });
        }
      }),
    );
    this.status.update({ origin: 'client', state: 'starting', message: `Starting the server with ${python}…` });
    this.log.info(`starting: ${python} ${serverArgs().join(' ')}`);
    try {
      await client.start();
      if (this.status.snapshot.origin === 'client') {
        this.status.update({ origin: 'server', params: { state: 'ready', message: 'Coding Director is ready.', missingModels: [], completionsEnabled: completionsEnabled() } });
      }
    } catch (error) {
      this.log.error(`the server failed to start: ${String(error)}`);
      this.status.update({ origin: 'client', state: 'failed', message: `The server failed to start: ${String(error)}` });
      this.client = undefined;
      try {
        await client.dispose();
      } catch {
        // already dead
      }
    }
  }

  /** Stops the server (if running). */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    this.stoppingOnPurpose = true;
    try {
      if (client.isRunning()) await client.stop(5000);
      await client.dispose();
    } catch (error) {
      this.log.warn(`stopping the server: ${String(error)}`);
    } finally {
      this.stoppingOnPurpose = false;
    }
  }

  /** Stops and starts again, re-running interpreter discovery. A manual restart refills the crash budget. */
  async restart(manual: boolean): Promise<void> {
    if (manual) this.budget.reset();
    await this.starting;
    await this.stop();
    await this.start();
  }

  /** Pushes the current settings (`workspace/didChangeConfiguration`); the server may also pull them. */
  async configurationChanged(): Promise<void> {
    if (!this.client || !this.running) return;
    await this.client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [CONFIG_SECTION]: currentServerSettings() } });
  }

  /**
   * The running client. A request made while the server is still starting (or restarting after a
   * crash) waits for it, at most `waitMs` or until `token` is cancelled, instead of failing at once:
   * a user who clicks Explain right after opening a file expects an answer, not "not running".
   */
  private async requireClient(token?: vscode.CancellationToken, waitMs = 60_000): Promise<LanguageClient> {
    if (this.starting) await this.starting;
    const client = this.client;
    if (client?.state === State.Starting) {
      await new Promise<void>((resolve) => {
        const subscriptions: { dispose(): unknown }[] = [];
        const timer = setTimeout(done, waitMs);
        function done(): void {
          clearTimeout(timer);
          for (const s of subscriptions) s.dispose();
          resolve();
        }
        subscriptions.push(client.onDidChangeState((change) => { if (change.newState !== State.Starting) done(); }));
        if (token) subscriptions.push(token.onCancellationRequested(done));
      });
    }
    if (!this.client || !this.running) throw new Error('The Coding Director server is not running.');
    return this.client;
  }

  /** `codingDirector/chat`; cancelling `token` sends `$/cancelRequest`. */
  async chat(params: ChatParams, token: vscode.CancellationToken): Promise<Assistance> {
    return (await this.requireClient(token)).sendRequest<Assistance>(CHAT_METHOD, params, token);
  }

  /** `codingDirector/task`; cancelling `token` stops every model call and test run of the task. */
  async task(params: ChatParams, token: vscode.CancellationToken): Promise<Assistance> {
    return (await this.requireClient(token)).sendRequest<Assistance>(TASK_METHOD, params, token);
  }

  /** `codingDirector/feedback` on an answer (by its `requestId`); dropped when the server is not running. */
  async feedback(params: FeedbackParams): Promise<void> {
    if (!this.client || !this.running) return;
    await this.client.sendNotification(FEEDBACK_METHOD, params);
  }

  /** `codingDirector/stats`: the team memory's figures over the last `since` (e.g. `7d`); waits for the server to start. */
  async stats(since: string): Promise<StatsReport> {
    const params: StatsParams = { since };
    return (await this.requireClient()).sendRequest<StatsReport>(STATS_METHOD, params);
  }

  /** Runs a server command through `workspace/executeCommand`. */
  async executeServerCommand(command: string, args: unknown[] = []): Promise<unknown> {
    return (await this.requireClient()).sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  }

  /** The server's code actions for a range (standard `textDocument/codeAction`), unresolved. */
  async codeActions(document: vscode.TextDocument, range: vscode.Range, token: vscode.CancellationToken): Promise<(LspCommand | LspCodeAction)[]> {
    const client = await this.requireClient(token);
    const c2p = client.code2ProtocolConverter;
    const diagnostics = vscode.languages.getDiagnostics(document.uri).filter((d) => d.range.intersection(range) !== undefined);
    const result = await client.sendRequest(
      CodeActionRequest.type,
      {
        textDocument: c2p.asTextDocumentIdentifier(document),
        range: c2p.asRange(range),
        context: { diagnostics: await c2p.asDiagnostics(diagnostics, token), triggerKind: CodeActionTriggerKind.Invoked },
      },
      token,
    );
    return result ?? [];
  }

  /** Resolves a code action (`codeAction/resolve`) when it has no edit yet, then converts edit and command for VS Code. */
  async resolveCodeAction(action: LspCodeAction, token: vscode.CancellationToken): Promise<{ edit?: vscode.WorkspaceEdit; command?: vscode.Command }> {
    const client = await this.requireClient(token);
    let resolved = action;
    if (!action.edit && action.data !== undefined) resolved = await client.sendRequest(CodeActionResolveRequest.type, action, token);
    const p2c = client.protocol2CodeConverter;
    return {
      edit: resolved.edit ? await p2c.asWorkspaceEdit(resolved.edit, token) : undefined,
      command: resolved.command ? p2c.asCommand(resolved.command) : undefined,
    };
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    void this.stop();
  }
}
