/**
 * The dashboard webview's HTML shell. It holds no data: the script (`out/webview/dashboard.js`, with
 * Chart.js bundled in) asks for the figures and draws them on canvases. The Content Security Policy is
 * the chat panel's (`chatCsp`): only the extension's own script (by nonce) and stylesheet, no
 * inline script or style, no network access.
 */
import { attr, pageHead } from '../chat/html';
import { PERIODS, DEFAULT_PERIOD } from './messages';

/** Inputs of {@link dashboardHtml}. */
export interface DashboardHtmlInputs {
  /** `webview.cspSource`. */
  readonly cspSource: string;
  /** A fresh random nonce for this page (`makeNonce()` of the chat's html.ts). */
  readonly nonce: string;
  /** `webview.asWebviewUri(...)` of `out/webview/dashboard.js`. */
  readonly scriptUri: string;
  /** `webview.asWebviewUri(...)` of `media/dashboard.css`. */
  readonly styleUri: string;
}

/** The complete HTML of the dashboard. */
export function dashboardHtml(inputs: DashboardHtmlInputs): string {
  const periods = PERIODS.map((p) => `<option value="${p}"${p === DEFAULT_PERIOD ? ' selected' : ''}>last ${p}</option>`).join('');
  return `<!DOCTYPE html>
<html lang="en">
${pageHead(inputs.cspSource, inputs.nonce, inputs.styleUri, 'Coding Director Dashboard')}
<body>
<header id="toolbar">
  <h1>Team memory</h1>
  <label>Period <select id="period">${periods}</select></label>
  <button id="refresh" type="button">Refresh</button>
  <span id="state" role="status"></span>
</header>
<section id="tiles"></section>
<main id="dashboard"></main>
<section id="reasons-table"></section>
<script nonce="${attr(inputs.nonce)}" src="${attr(inputs.scriptUri)}"></script>
</body>
</html>`;
}
