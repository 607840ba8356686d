/**
 * "Apply with diff preview": shows the document next to its proposed version and applies the edit only
 * when the user confirms. The proposed text lives in a read-only virtual document.
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { applyOffsetEdits } from './textEdits';

const SCHEME = 'coding-director-proposal';

/** Serves the proposed versions shown on the right side of the diff. */
export class ProposalProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
  private counter = 0;
  readonly onDidChange = this.emitter.event;
  private readonly registration = vscode.workspace.registerTextDocumentContentProvider(SCHEME, this);

  /** Stores a proposal and returns its URI (the file name is kept so the diff gets the right language). */
  add(original: vscode.Uri, text: string): vscode.Uri {
    this.counter += 1;
    const uri = vscode.Uri.from({ scheme: SCHEME, path: `/${this.counter}/${basename(original.path)}` });
    this.texts.set(uri.toString(), text);
    return uri;
  }

  remove(uri: vscode.Uri): void {
    this.texts.delete(uri.toString());
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }

  dispose(): void {
    this.registration.dispose();
    this.emitter.dispose();
  }
}

/**
 * Shows a diff of `edit` (text edits to one document) and applies it if the user picks "Apply".
 * Edits touching several files, or file operations, are applied through VS Code's refactor preview instead.
 *
 * @returns true when the edit was applied.
 */
export async function previewAndApply(proposals: ProposalProvider, edit: vscode.WorkspaceEdit, title: string): Promise<boolean> {
  const entries = edit.entries();
  if (entries.length !== 1 || edit.size !== 1) {
    return vscode.workspace.applyEdit(edit, { isRefactoring: true });
  }
  const first = entries[0];
  if (!first) return false;
  const [uri, textEdits] = first;
  const document = await vscode.workspace.openTextDocument(uri);
  const version = document.version;
  const proposed = applyOffsetEdits(
    document.getText(),
    textEdits.map((e) => ({ start: document.offsetAt(e.range.start), end: document.offsetAt(e.range.end), newText: e.newText })),
  );
  const proposalUri = proposals.add(uri, proposed);
  try {
    await vscode.commands.executeCommand('vscode.diff', uri, proposalUri, `${basename(uri.path)} ↔ ${title}`, { preview: true });
    const choice = await vscode.window.showInformationMessage(`${title}: apply the proposed change to ${basename(uri.path)}?`, 'Apply', 'Discard');
    if (choice !== 'Apply') return false;
    if (document.version !== version) {
      void vscode.window.showWarningMessage(`${basename(uri.path)} changed since the proposal was made; nothing was applied.`);
      return false;
    }
    const applied = await vscode.workspace.applyEdit(edit);
    if (applied) {
      await closeDiff(proposalUri);
      await vscode.window.showTextDocument(document, { preview: false });
    }
    return applied;
  } finally {
    proposals.remove(proposalUri);
  }
}

async function closeDiff(proposalUri: vscode.Uri): Promise<void> {
  for (const group of vscode.window.tabGroups.all) {
    for (const tab of group.tabs) {
      const input = tab.input;
      if (input instanceof vscode.TabInputTextDiff && input.modified.toString() === proposalUri.toString()) {
        await vscode.window.tabGroups.close(tab);
      }
    }
  }
}
