/**
 * The chat panel: a webview view in the Coding Director activity-bar container. Owns the transcript
 * (persisted per workspace), sends `codingDirector/chat` requests, applies `codingDirector/chatEvent`
 * notifications as they stream, and handles the webview's buttons (Stop, Copy, Insert, Apply, context chips).
 */
import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { TASK_PREFIX, type Assistance, type ChatEvent, type ChatParams, type FeedbackParams } from '../protocol';
import { previewAndApply, type ProposalProvider } from '../commands/preview';
import { chooseApplyTarget, fitTrailingNewline } from '../commands/textEdits';
import type { AskRequest } from './askArgs';
import { chatHtml, makeNonce } from './html';
import { parseWebviewMessage, type FromWebview, type ToWebview } from './messages';
import { applyChatEvent, chipLabel, completeTurn, endTurn, historyFor, markFeedback, restoreTurns, startTurn, type ChatTurn, type ContextChip, type PlainRange } from './model';

const HISTORY_KEY = 'codingDirector.chatHistory';
const MAX_STORED_TURNS = 50;
/** LSP error code of a cancelled request. */
const REQUEST_CANCELLED = -32800;

/** What the chat needs from the server connection. */
export interface ChatBackend {
  chat(params: ChatParams, token: vscode.CancellationToken): Promise<Assistance>;
  /** A `/task ...` prompt: the team's roles plan, code, test, debug, review and document. */
  task(params: ChatParams, token: vscode.CancellationToken): Promise<Assistance>;
  /** `codingDirector/feedback` (team memory); optional for backends without memory. */
  feedback?(params: FeedbackParams): Promise<void>;
}

function toPlainRange(range: vscode.Range): PlainRange {
  return { start: { line: range.start.line, character: range.start.character }, end: { line: range.end.line, character: range.end.character } };
}

function toRange(range: PlainRange): vscode.Range {
  return new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character);
}

/** The chat view provider. */
export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewId = 'codingDirector.chat';

  private view: vscode.WebviewView | undefined;
  private turns: ChatTurn[];
  private chip: ContextChip | undefined;
  private active: { chatId: string; source: vscode.CancellationTokenSource } | undefined;
  private lastEditor: vscode.TextEditor | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly backend: ChatBackend,
    private readonly proposals: ProposalProvider,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.turns = restoreTurns(context.workspaceState.get(HISTORY_KEY), MAX_STORED_TURNS);
    this.lastEditor = vscode.window.activeTextEditor;
    this.disposables.push(
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor && editor.document.uri.scheme !== 'output') this.lastEditor = editor;
      }),
    );
  }

  /** True while an answer is streaming. */
  get busy(): boolean {
    return this.active !== undefined;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const webviewRoot = vscode.Uri.joinPath(this.context.extensionUri, 'extension', 'out', 'webview');
    const mediaRoot = vscode.Uri.joinPath(this.context.extensionUri, 'extension', 'media');
    view.webview.options = { enableScripts: true, enableForms: false, localResourceRoots: [webviewRoot, mediaRoot] };
    view.webview.html = chatHtml({
      cspSource: view.webview.cspSource,
      nonce: makeNonce(),
      scriptUri: view.webview.asWebviewUri(vscode.Uri.joinPath(webviewRoot, 'chat.js')).toString(),
      styleUri: view.webview.asWebviewUri(vscode.Uri.joinPath(mediaRoot, 'chat.css')).toString(),
    });
    this.disposables.push(
      view.webview.onDidReceiveMessage((raw: unknown) => {
        const message = parseWebviewMessage(raw);
        if (!message) {
          this.log.warn('ignored a malformed message from the chat webview');
          return;
        }
        void this.handle(message).catch((error: unknown) => this.log.error(`chat: ${String(error)}`));
      }),
      view.onDidDispose(() => {
        this.view = undefined;
      }),
    );
  }

  private post(message: ToWebview): void {
    void this.view?.webview.postMessage(message);
  }

  private postState(): void {
    this.post({ type: 'state', turns: this.turns, chip: this.chip, busy: this.busy });
  }

  private async setBusyContext(): Promise<void> {
    await vscode.commands.executeCommand('setContext', 'codingDirector.chatBusy', this.busy);
  }

  private save(): void {
    void this.context.workspaceState.update(HISTORY_KEY, this.turns.filter((t) => t.status !== 'streaming').slice(-MAX_STORED_TURNS));
  }

  private replaceTurn(turn: ChatTurn): void {
    const index = this.turns.findIndex((t) => t.chatId === turn.chatId);
    if (index >= 0) this.turns[index] = turn;
    else this.turns.push(turn);
    this.post({ type: 'turn', turn, busy: this.busy });
  }

  /** Workspace file paths (relative, at most 5000) for `@file` completion in the panel. */
  private async postFiles(): Promise<void> {
    const uris = await vscode.workspace.findFiles('**/*', '{**/node_modules/**,**/.git/**,**/.venv/**}', 5000);
    const paths = uris.map((uri) => vscode.workspace.asRelativePath(uri, false)).sort();
    this.post({ type: 'files', paths });
  }

  /** Opens (reveals) the chat view. */
  async reveal(): Promise<void> {
    await vscode.commands.executeCommand(`${ChatViewProvider.viewId}.focus`);
  }

  /** A `codingDirector/chatEvent` from the server. */
  onChatEvent(event: ChatEvent): void {
    const turn = this.turns.find((t) => t.chatId === event.chatId);
    if (!turn) return;
    const next = applyChatEvent(turn, event);
    if (next !== turn) this.replaceTurn(next);
  }

  /**
   * Asks a question and streams the answer into the panel (opening it). A question already streaming is stopped.
   *
   * @param request - ChatParams without `chatId`; `history` defaults to the last finished turns.
   */
  async ask(request: AskRequest): Promise<void> {
    if (this.active) this.stop();
    const chatId = randomUUID();
    const chip = request.textDocument ? this.chipFor(request.textDocument.uri, request.range ?? undefined) : this.chip;
    const params: ChatParams = {
      chatId,
      prompt: request.prompt,
      history: request.history ?? historyFor(this.turns),
      ...(chip ? { textDocument: { uri: chip.uri } } : {}),
      ...(chip?.range ? { range: chip.range } : {}),
      ...(request.intent ? { intent: request.intent } : {}),
      ...(request.noCache ? { noCache: true } : {}),
    };
    const source = new vscode.CancellationTokenSource();
    this.active = { chatId, source };
    this.replaceTurn(startTurn(chatId, request.prompt, chip, request.intent ?? undefined));
    await this.setBusyContext();
    await this.reveal();
    this.post({ type: 'state', turns: this.turns, chip: this.chip, busy: true });
    try {
      const isTask = params.prompt.startsWith(TASK_PREFIX);
      const result = isTask
        ? await this.backend.task({ ...params, prompt: params.prompt.slice(TASK_PREFIX.length).trim() }, source.token)
        : await this.backend.chat(params, source.token);
      this.finish(chatId, (turn) => completeTurn(turn, result));
    } catch (error) {
      const cancelled = source.token.isCancellationRequested || (error as { code?: number }).code === REQUEST_CANCELLED;
      if (!cancelled) this.log.error(`chat ${chatId} failed: ${String(error)}`);
      this.finish(chatId, (turn) => endTurn(turn, cancelled ? 'cancelled' : 'error', cancelled ? undefined : errorText(error)));
    } finally {
      source.dispose();
      this.clearActive(chatId);
      await this.setBusyContext();
      this.post({ type: 'turn', turn: this.turns.find((t) => t.chatId === chatId) ?? startTurn(chatId, request.prompt), busy: this.busy });
    }
  }

  private clearActive(chatId: string): void {
    if (this.active?.chatId === chatId) this.active = undefined;
  }

  private finish(chatId: string, update: (turn: ChatTurn) => ChatTurn): void {
    const turn = this.turns.find((t) => t.chatId === chatId);
    if (!turn) return;
    this.replaceTurn(update(turn));
    this.save();
  }

  /** Stops the streaming answer: cancels the request (`$/cancelRequest`) and marks the turn stopped at once. */
  stop(): void {
    const active = this.active;
    if (!active) return;
    active.source.cancel();
    this.finish(active.chatId, (turn) => endTurn(turn, 'cancelled'));
  }

  /** Forgets the transcript of this workspace. */
  clear(): void {
    this.stop();
    this.turns = [];
    this.save();
    this.postState();
  }

  private chipFor(uri: string, range: PlainRange | undefined): ContextChip {
    const name = basename(vscode.Uri.parse(uri).path);
    const isSelection = range !== undefined && (range.start.line !== range.end.line || range.start.character !== range.end.character);
    return isSelection ? { kind: 'selection', uri, label: chipLabel(name, range), range } : { kind: 'file', uri, label: name, range };
  }

  private editor(): vscode.TextEditor | undefined {
    return vscode.window.activeTextEditor ?? this.lastEditor;
  }

  private async handle(message: FromWebview): Promise<void> {
    switch (message.type) {
      case 'ready':
        this.postState();
        void this.postFiles();
        return;
      case 'ask':
        await this.ask({ prompt: message.prompt });
        return;
      case 'stop':
        this.stop();
        return;
      case 'clear':
        this.clear();
        return;
      case 'addFile': {
        const editor = this.editor();
        if (!editor) return void vscode.window.showInformationMessage('Open a file to attach it.');
        this.chip = { kind: 'file', uri: editor.document.uri.toString(), label: basename(editor.document.uri.path) };
        this.post({ type: 'chip', chip: this.chip });
        return;
      }
      case 'addSelection': {
        const editor = this.editor();
        if (!editor || editor.selection.isEmpty) return void vscode.window.showInformationMessage('Select some code in an editor to attach it.');
        this.chip = this.chipFor(editor.document.uri.toString(), toPlainRange(editor.selection));
        this.post({ type: 'chip', chip: this.chip });
        return;
      }
      case 'removeChip':
        this.chip = undefined;
        this.post({ type: 'chip', chip: undefined });
        return;
      case 'copy':
        await vscode.env.clipboard.writeText(message.code);
        vscode.window.setStatusBarMessage('Copied to the clipboard', 2000);
        return;
      case 'insert': {
        const editor = this.editor();
        if (!editor) return void vscode.window.showInformationMessage('Open an editor to insert the code into.');
        await editor.edit((builder) => builder.replace(editor.selection, message.code));
        await vscode.window.showTextDocument(editor.document, editor.viewColumn);
        if (message.chatId) this.sendFeedback(message.chatId, 'inserted');
        return;
      }
      case 'apply':
        await this.apply(message.code, message.chatId);
        this.sendFeedback(message.chatId, 'applied');
        return;
      case 'feedback': {
        this.sendFeedback(message.chatId, message.kind);
        this.finish(message.chatId, (turn) => markFeedback(turn, message.kind));
        return;
      }
      case 'regenerate': {
        const turn = this.turns.find((t) => t.chatId === message.chatId);
        if (!turn) return;
        const chip = turn.chip;
        await this.ask({
          prompt: turn.prompt,
          noCache: true,
          ...(chip ? { textDocument: { uri: chip.uri } } : {}),
          ...(chip?.range ? { range: chip.range } : {}),
          ...(turn.intent ? { intent: turn.intent as AskRequest['intent'] } : {}),
        });
        return;
      }
      case 'openLink':
        await vscode.env.openExternal(vscode.Uri.parse(message.href));
        return;
      case 'openSource': {
        // Only files of an open workspace folder: the webview shows model output, never trust it further.
        const uri = vscode.Uri.parse(message.uri);
        if (!vscode.workspace.getWorkspaceFolder(uri)) {
          this.log.warn(`chat: not opening ${message.uri}: outside the workspace`);
          return;
        }
        // Whole lines startLine..endLine selected (the editor reveals the range).
        const selection = new vscode.Range(message.startLine - 1, 0, message.endLine, 0);
        await vscode.window.showTextDocument(uri, { selection, preview: true });
        return;
      }
    }
  }

  /** Feedback on the answer of `chatId` to the server's team memory (answers without a request id have none). */
  private sendFeedback(chatId: string, kind: FeedbackParams['kind']): void {
    const requestId = this.turns.find((t) => t.chatId === chatId)?.requestId;
    if (!requestId || !this.backend.feedback) return;
    this.backend.feedback({ requestId, kind }).catch((error: unknown) => this.log.warn(`feedback not sent: ${String(error)}`));
  }

  /** Apply with diff preview: the turn's range if it was about a selection of that document, else the selection, else the file. */
  private async apply(code: string, chatId: string): Promise<void> {
    const turn = this.turns.find((t) => t.chatId === chatId);
    const chipDocUri = turn?.chip?.uri;
    const editor = this.editor();
    let document: vscode.TextDocument | undefined = editor?.document;
    if (chipDocUri && chipDocUri !== editor?.document.uri.toString()) {
      document = await vscode.workspace.openTextDocument(vscode.Uri.parse(chipDocUri));
    }
    if (!document) return void vscode.window.showInformationMessage('Open the file to apply the code to.');
    const sameEditor = editor?.document === document ? editor : undefined;
    const chipRange = turn?.chip?.kind === 'selection' && turn.chip.range && turn.chip.uri === document.uri.toString() ? toRange(turn.chip.range) : undefined;
    const target = chooseApplyTarget(chipRange, sameEditor ? { range: sameEditor.selection, isEmpty: sameEditor.selection.isEmpty } : undefined);
    const range =
      target.kind === 'range' ? document.validateRange(target.range) : new vscode.Range(document.positionAt(0), document.positionAt(document.getText().length));
    const edit = new vscode.WorkspaceEdit();
    edit.replace(document.uri, range, fitTrailingNewline(code, document.getText(range)));
    await previewAndApply(this.proposals, edit, 'Coding Director proposal');
  }

  dispose(): void {
    this.stop();
    for (const d of this.disposables) d.dispose();
  }
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
