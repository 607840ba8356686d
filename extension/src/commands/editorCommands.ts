/**
 * The editor context submenu "Coding Director": Explain, Fix, Add docstring, Generate tests.
 *
 * Explain streams into the chat panel. The others run the server's matching code action
 * (`textDocument/codeAction` + `codeAction/resolve`, the same actions the lightbulb shows) and show its
 * edit as a diff to apply; when the server offers no such action, the question goes to the chat panel,
 * whose code blocks have Apply buttons.
 */
import * as vscode from 'vscode';
import type { CodeAction as LspCodeAction, Command as LspCommand } from 'vscode-languageclient/node';
import type { ChatViewProvider } from '../chat/chatView';
import type { ServerManager } from '../server/client';
import { previewAndApply, type ProposalProvider } from './preview';
import { actionFailureMessage, pickServerAction, type ActionWanted } from './textEdits';

interface EditorCommand {
  readonly id: string;
  readonly wanted: ActionWanted;
  readonly prompt: string;
  readonly intent: 'explain' | 'fix' | 'docs' | 'test';
  readonly title: string;
}

const COMMANDS: readonly EditorCommand[] = [
  { id: 'codingDirector.fix', wanted: 'fix', prompt: 'Fix this code.', intent: 'fix', title: 'Fix' },
  { id: 'codingDirector.addDocstring', wanted: 'docstring', prompt: 'Add a docstring to this code.', intent: 'docs', title: 'Add docstring' },
  { id: 'codingDirector.generateTests', wanted: 'tests', prompt: 'Generate tests for this code.', intent: 'test', title: 'Generate tests' },
];

function isCodeAction(item: LspCommand | LspCodeAction): item is LspCodeAction {
  return typeof (item as LspCodeAction).command !== 'string';
}

function selectionRange(editor: vscode.TextEditor): { start: { line: number; character: number }; end: { line: number; character: number } } {
  const s = editor.selection;
  return { start: { line: s.start.line, character: s.start.character }, end: { line: s.end.line, character: s.end.character } };
}

/** One warning for a failed action (none when it was cancelled), with a way to the logs. */
export function showActionFailure(title: string, error: unknown): void {
  const text = actionFailureMessage(title, error);
  if (!text) return;
  void vscode.window.showWarningMessage(text, 'Show Logs').then((choice) => {
    if (choice) void vscode.commands.executeCommand('codingDirector.showLogs');
  });
}

/** Registers the context-menu commands. */
export function registerEditorCommands(server: ServerManager, chat: ChatViewProvider, proposals: ProposalProvider, log: vscode.LogOutputChannel): vscode.Disposable[] {
  const guard = (name: string, run: (editor: vscode.TextEditor) => Promise<void>) => (editor: vscode.TextEditor): void => {
    run(editor).catch((error: unknown) => {
      log.error(`${name}: ${String(error)}`);
      showActionFailure(name, error);
    });
  };
  const explain = vscode.commands.registerTextEditorCommand(
    'codingDirector.explain',
    guard('Explain', (editor) =>
      chat.ask({ prompt: 'Explain this code.', textDocument: { uri: editor.document.uri.toString() }, range: selectionRange(editor), intent: 'explain' }),
    ),
  );
  const others = COMMANDS.map((command) =>
    vscode.commands.registerTextEditorCommand(command.id, guard(command.title, async (editor) => {
      const document = editor.document;
      const range = editor.selection as vscode.Range;
      const outcome = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Coding Director: ${command.title}…`, cancellable: true },
        async (_progress, token) => {
          if (!server.running) return 'noServer' as const;
          const actions = await server.codeActions(document, range, token);
          const index = pickServerAction(actions, command.wanted);
          const picked = actions[index];
          if (!picked) return 'noAction' as const;
          log.info(`${command.title}: using the server's code action "${picked.title}"`);
          if (!isCodeAction(picked)) {
            await vscode.commands.executeCommand(picked.command, ...((picked.arguments ?? []) as unknown[]));
            return 'done' as const;
          }
          return server.resolveCodeAction(picked, token);
        },
      );
      if (outcome === 'noServer') {
        void vscode.window.showWarningMessage('Coding Director: the server is not running.', 'Show Logs').then((c) => {
          if (c) void vscode.commands.executeCommand('codingDirector.showLogs');
        });
        return;
      }
      if (outcome === 'noAction') {
        log.info(`${command.title}: the server offered no matching code action; asking in the chat`);
        await chat.ask({ prompt: command.prompt, textDocument: { uri: document.uri.toString() }, range: selectionRange(editor), intent: command.intent });
        return;
      }
      if (outcome === 'done') return;
      if (outcome.edit) await previewAndApply(proposals, outcome.edit, `Coding Director: ${command.title}`);
      if (outcome.command) await vscode.commands.executeCommand(outcome.command.command, ...((outcome.command.arguments ?? []) as unknown[]));
      if (!outcome.edit && !outcome.command) void vscode.window.showInformationMessage(`Coding Director: ${command.title} produced no change.`);
    })),
  );
  return [explain, ...others];
}
