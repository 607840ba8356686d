/** The two status bar items: server state (click: menu) and the inline-completions toggle. */
import * as vscode from 'vscode';
import { completionsLook, statusLook, type StatusLook, type StatusSnapshot } from './presentation';

function paint(item: vscode.StatusBarItem, look: StatusLook): void {
  item.text = look.text;
  item.tooltip = look.tooltip;
  item.backgroundColor =
    look.severity === 'error'
      ? new vscode.ThemeColor('statusBarItem.errorBackground')
      : look.severity === 'warning'
        ? new vscode.ThemeColor('statusBarItem.warningBackground')
        : undefined;
}

/** Owns the status bar items; {@link update} is called for every status change. */
export class StatusBar implements vscode.Disposable {
  private readonly main: vscode.StatusBarItem;
  private readonly completions: vscode.StatusBarItem;
  private current: StatusSnapshot = { origin: 'client', state: 'discovering', message: 'Looking for the Coding Director server…' };

  constructor() {
    this.main = vscode.window.createStatusBarItem('codingDirector.status', vscode.StatusBarAlignment.Right, 100);
    this.main.name = 'Coding Director';
    this.main.command = 'codingDirector.showMenu';
    this.completions = vscode.window.createStatusBarItem('codingDirector.completions', vscode.StatusBarAlignment.Right, 99);
    this.completions.name = 'Coding Director Inline Completions';
    this.completions.command = 'codingDirector.toggleCompletions';
    paint(this.main, statusLook(this.current));
    this.main.show();
  }

  /** The latest snapshot (for the quick pick). */
  get snapshot(): StatusSnapshot {
    return this.current;
  }

  /** Shows a new server or client state. */
  update(snapshot: StatusSnapshot): void {
    this.current = snapshot;
    paint(this.main, statusLook(snapshot));
  }

  /** Shows the completions toggle in its on/off look. */
  setCompletions(enabled: boolean): void {
    paint(this.completions, completionsLook(enabled));
    this.completions.accessibilityInformation = { label: `Coding Director inline completions ${enabled ? 'on' : 'off'}` };
    this.completions.show();
  }

  dispose(): void {
    this.main.dispose();
    this.completions.dispose();
  }
}
