/**
 * "Coding Director: Show Dashboard": a webview panel with the team memory's figures, drawn with
 * Chart.js. The figures come from the server's `codingDirector/stats` request (the `StatsReport` of
 * `coding-director stats --json`), fetched when the panel opens and on Refresh or a new period.
 */
import * as vscode from 'vscode';
import type { StatsReport } from '../generated/messages';
import { makeNonce } from '../chat/html';
import { dashboardHtml } from './html';
import { DEFAULT_PERIOD, parseDashboardMessage, type Period, type ToDashboard } from './messages';

/** Where the figures come from (the server manager). */
export interface StatsBackend {
  stats(since: string): Promise<StatsReport>;
}

/** One dashboard panel at a time; {@link show} reveals it or creates it. */
export class DashboardPanel implements vscode.Disposable {
  static readonly viewType = 'codingDirector.dashboard';
  private panel: vscode.WebviewPanel | undefined;
  private period: Period = DEFAULT_PERIOD;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly backend: StatsBackend,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** Opens (or reveals and refreshes) the dashboard. */
  show(): void {
    if (this.panel) {
      this.panel.reveal();
      void this.refresh(this.period);
      return;
    }
    const webviewRoot = vscode.Uri.joinPath(this.context.extensionUri, 'extension', 'out', 'webview');
    const mediaRoot = vscode.Uri.joinPath(this.context.extensionUri, 'extension', 'media');
    const panel = vscode.window.createWebviewPanel(DashboardPanel.viewType, 'Coding Director Dashboard', vscode.ViewColumn.Active, {
      enableScripts: true,
      enableForms: false,
      localResourceRoots: [webviewRoot, mediaRoot],
    });
    panel.webview.html = dashboardHtml({
      cspSource: panel.webview.cspSource,
      nonce: makeNonce(),
      scriptUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(webviewRoot, 'dashboard.js')).toString(),
      styleUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(mediaRoot, 'dashboard.css')).toString(),
    });
    panel.webview.onDidReceiveMessage((raw: unknown) => {
      const message = parseDashboardMessage(raw);
      if (!message) {
        this.log.warn('dashboard: ignored a malformed message from the webview');
        return;
      }
      void this.refresh(message.type === 'refresh' ? message.since : this.period);
    });
    panel.onDidDispose(() => (this.panel = undefined));
    this.panel = panel;
  }

  private post(message: ToDashboard): void {
    void this.panel?.webview.postMessage(message);
  }

  private async refresh(since: Period): Promise<void> {
    this.period = since;
    this.post({ type: 'loading', since });
    try {
      const report = await this.backend.stats(since);
      this.post({ type: 'stats', since, report });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.log.warn(`dashboard: ${message}`);
      this.post({ type: 'error', since, message });
    }
  }

  dispose(): void {
    this.panel?.dispose();
  }
}
