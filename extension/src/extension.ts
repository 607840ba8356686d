/**
 * Entry point of the Coding Director extension.
 *
 * Activation creates the log channel, status bar, chat view and commands at once; the language server
 * starts only in a trusted workspace (and starts when the workspace becomes trusted).
 */
import * as vscode from 'vscode';
import { parseAskArgs } from './chat/askArgs';
import { ChatViewProvider } from './chat/chatView';
import { registerEditorCommands } from './commands/editorCommands';
import { ProposalProvider } from './commands/preview';
import { DashboardPanel } from './dashboard/panel';
import { PULL_MODELS_COMMAND, ASK_IN_CHAT_COMMAND } from './protocol';
import { ServerManager } from './server/client';
import { completionsEnabled } from './settings/read';
import { CONFIG_SECTION, needsRestart } from './settings/mapping';
import { menuItems, type MenuAction } from './status/presentation';
import { StatusBar } from './status/statusBar';

let server: ServerManager | undefined;

/** VS Code calls this on the first activation event. */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Coding Director', { log: true });
  const status = new StatusBar();
  const proposals = new ProposalProvider();
  // The chat view talks to the server through the manager, created just below (used only after activation).
  const chatView = new ChatViewProvider(
    context,
    {
      chat: (params, token) => manager.chat(params, token),
      task: (params, token) => manager.task(params, token),
      feedback: (params) => manager.feedback(params),
    },
    proposals,
    log,
  );
  const manager = new ServerManager(context, log, status, {
    onStatus: (params) => status.update({ origin: 'server', params }),
    onChatEvent: (event) => chatView.onChatEvent(event),
    onAskInChat: async (arg) => {
      const parsed = parseAskArgs(arg);
      if (!parsed.ok) {
        log.warn(`${ASK_IN_CHAT_COMMAND}: ${parsed.error}`);
        return;
      }
      await chatView.ask(parsed.request);
    },
  });
  server = manager;
  const dashboard = new DashboardPanel(context, { stats: (since) => manager.stats(since) }, log);
  status.setCompletions(completionsEnabled());

  const toggleCompletions = async (): Promise<void> => {
    const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
    await config.update('completions.enabled', !completionsEnabled(), vscode.ConfigurationTarget.Global);
  };

  const pullModels = async (): Promise<void> => {
    if (!manager.running) {
      void vscode.window.showWarningMessage('Coding Director: the server is not running.');
      return;
    }
    try {
      await manager.executeServerCommand(PULL_MODELS_COMMAND);
    } catch (error) {
      log.error(`pulling models failed: ${String(error)}`);
      void vscode.window.showErrorMessage(`Coding Director: pulling models failed: ${String(error)}`);
    }
  };

  const runMenuAction = async (action: MenuAction): Promise<void> => {
    switch (action) {
      case 'pullModels':
        return pullModels();
      case 'toggleCompletions':
        return toggleCompletions();
      case 'openLogs':
        log.show();
        return;
      case 'restartServer':
        return vscode.commands.executeCommand('codingDirector.restartServer');
      case 'openSettings':
        return vscode.commands.executeCommand('workbench.action.openSettings', `@ext:${context.extension.id}`);
      case 'openChat':
        return chatView.reveal();
      case 'showStats':
        dashboard.show();
        return;
    }
  };

  context.subscriptions.push(
    log,
    status,
    proposals,
    manager,
    chatView,
    dashboard,
    vscode.commands.registerCommand('codingDirector.showDashboard', () => dashboard.show()),
    vscode.window.registerWebviewViewProvider(ChatViewProvider.viewId, chatView, { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.commands.registerCommand('codingDirector.openChat', () => chatView.reveal()),
    vscode.commands.registerCommand('codingDirector.chat.stop', () => chatView.stop()),
    vscode.commands.registerCommand('codingDirector.chat.clear', () => chatView.clear()),
    vscode.commands.registerCommand('codingDirector.toggleCompletions', toggleCompletions),
    vscode.commands.registerCommand('codingDirector.pullMissingModels', pullModels),
    vscode.commands.registerCommand('codingDirector.showLogs', () => log.show()),
    vscode.commands.registerCommand('codingDirector.openSettings', () => runMenuAction('openSettings')),
    vscode.commands.registerCommand('codingDirector.restartServer', async () => {
      if (!vscode.workspace.isTrusted) {
        void vscode.window.showInformationMessage('Coding Director starts only in a trusted workspace.');
        return;
      }
      log.info('restarting the server (requested)');
      await manager.restart(true);
    }),
    vscode.commands.registerCommand('codingDirector.showMenu', async () => {
      const items = menuItems(status.snapshot, completionsEnabled());
      const picked = await vscode.window.showQuickPick(
        items.map((item) => ({ label: item.label, description: item.description, action: item.action })),
        { title: 'Coding Director', placeHolder: 'Choose an action' },
      );
      if (picked) await runMenuAction(picked.action);
    }),
    ...registerEditorCommands(manager, chatView, proposals, log),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration(CONFIG_SECTION)) return;
      if (event.affectsConfiguration(`${CONFIG_SECTION}.completions.enabled`)) status.setCompletions(completionsEnabled());
      if (!vscode.workspace.isTrusted) return;
      if (needsRestart((section) => event.affectsConfiguration(section))) {
        log.info('a server setting changed; restarting the server');
        await manager.restart(false);
      } else {
        await manager.configurationChanged();
      }
    }),
  );

  if (vscode.workspace.isTrusted) {
    void manager.start();
  } else {
    status.update({ origin: 'client', state: 'untrusted', message: 'Trust this workspace to start Coding Director.' });
    context.subscriptions.push(vscode.workspace.onDidGrantWorkspaceTrust(() => void manager.start()));
  }
}

/** VS Code calls this on shutdown; stops the server. */
export async function deactivate(): Promise<void> {
  await server?.stop();
  server = undefined;
}
