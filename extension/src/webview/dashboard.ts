/**
 * The dashboard webview script: asks the extension for the figures (`ready` / `refresh`), then draws
 * the headline tiles, one Chart.js chart per {@link dashboardCharts} entry and the table of reasons.
 * All text goes in through `textContent`; `body[data-state]` is `loading`, `ready`, `empty` or `error`.
 */
import { Chart, registerables } from 'chart.js';
import { dashboardCharts, summaryTiles, topReasons, type Theme } from '../dashboard/charts';
import type { FromDashboard, Period, ToDashboard } from '../dashboard/messages';
import type { StatsReport } from '../generated/messages';

Chart.register(...registerables);

declare function acquireVsCodeApi(): { postMessage(message: FromDashboard): void };
const vscode = acquireVsCodeApi();
const charts: Chart[] = [];

function byId(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing`);
  return found;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The workbench theme's colours (VS Code sets them as CSS variables on the webview's body). */
function theme(): Theme {
  const style = getComputedStyle(document.body);
  const v = (name: string, fallback: string): string => style.getPropertyValue(name).trim() || fallback;
  return {
    foreground: v('--vscode-foreground', '#cccccc'),
    grid: v('--vscode-editorWidget-border', 'rgba(128,128,128,0.35)'),
    palette: [
      v('--vscode-charts-blue', '#3794ff'),
      v('--vscode-charts-purple', '#b180d7'),
      v('--vscode-charts-orange', '#d18616'),
      v('--vscode-charts-green', '#89d185'),
      v('--vscode-charts-yellow', '#cca700'),
      v('--vscode-charts-red', '#f14c4c'),
    ],
  };
}

function setState(state: 'loading' | 'ready' | 'empty' | 'error', text: string): void {
  document.body.dataset.state = state;
  byId('state').textContent = text;
}

function clear(): void {
  for (const chart of charts.splice(0)) chart.destroy();
  byId('tiles').replaceChildren();
  byId('dashboard').replaceChildren();
  byId('reasons-table').replaceChildren();
}

function renderReasons(report: StatsReport): void {
  const reasons = topReasons(report, 50);
  if (reasons.length === 0) return;
  const box = byId('reasons-table');
  box.append(el('h2', undefined, 'Rejection and error reasons'));
  const table = el('table');
  const head = el('tr');
  for (const h of ['tier', 'reason', 'attempts']) head.append(el('th', undefined, h));
  table.append(head);
  for (const r of reasons) {
    const row = el('tr');
    row.append(el('td', undefined, r.tier), el('td', 'reason', r.reason), el('td', 'count', String(r.count)));
    table.append(row);
  }
  box.append(table);
}

function render(report: StatsReport, since: Period): void {
  clear();
  const tiles = byId('tiles');
  for (const tile of summaryTiles(report)) {
    const card = el('div', 'tile');
    card.append(el('div', 'tile-label', tile.label), el('div', 'tile-value', tile.value));
    if (tile.detail) card.append(el('div', 'tile-detail', tile.detail));
    tiles.append(card);
  }
  if (report.requests === 0) {
    setState('empty', `No requests recorded in the last ${since}.`);
    return;
  }
  const grid = byId('dashboard');
  const colours = theme();
  for (const spec of dashboardCharts(report, colours)) {
    const card = el('section', 'card');
    card.dataset.chart = spec.id;
    card.append(el('h2', undefined, spec.title), el('p', 'caption', spec.caption));
    const box = el('div', 'chart-box');
    const canvas = el('canvas');
    canvas.id = `chart-${spec.id}`;
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `${spec.title}: ${spec.caption}`);
    box.append(canvas);
    card.append(box);
    grid.append(card);
    charts.push(new Chart(canvas, spec.config));
  }
  renderReasons(report);
  setState('ready', `${report.requests} requests in the last ${since}; updated ${new Date().toLocaleTimeString()}`);
}

const period = byId('period') as HTMLSelectElement;
period.addEventListener('change', () => vscode.postMessage({ type: 'refresh', since: period.value as Period }));
byId('refresh').addEventListener('click', () => vscode.postMessage({ type: 'refresh', since: period.value as Period }));

window.addEventListener('message', (event: MessageEvent<ToDashboard>) => {
  const message = event.data;
  period.value = message.since;
  if (message.type === 'loading') setState('loading', 'Loading…');
  else if (message.type === 'error') {
    clear();
    setState('error', message.message);
  } else render(message.report, message.since);
});

vscode.postMessage({ type: 'ready' });
