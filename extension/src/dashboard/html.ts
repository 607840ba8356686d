/**
 * The dashboard webview's HTML shell. It holds no data: the script (`out/webview/dashboard.js`, with
 * Chart.js bundled in) asks for the figures and draws them on canvases. The Content Security Policy is
 * the chat panel's ({@link chatCsp}): only the extension's own script (by nonce) and stylesheet, no
 * inline script or style, no network access.
 */
import { chatCsp } from '../chat/html';
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

function attr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The complete HTML of the dashboard. */
export function dashboardHtml(inputs: DashboardHtmlInputs): string {
  const csp = chatCsp(inputs.cspSource, inputs.nonce);
  const periods = PERIODS.map((p) => `<option value="${p}"${p === DEFAULT_PERIOD ? ' selected' : ''}>last ${p}</option>`).join('');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attr(inputs.styleUri)}">
<title>Coding Director Dashboard</title>
</head>
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
