import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dashboardCharts, percentText, summaryTiles, topReasons, type Theme } from '../src/dashboard/charts';
import { dashboardHtml } from '../src/dashboard/html';
import { parseDashboardMessage } from '../src/dashboard/messages';
import type { StatsReport } from '../src/generated/messages';

const THEME: Theme = { foreground: '#ccc', grid: '#444', palette: ['#00f', '#f0f', '#fa0'] };

/** The stats of issue 12's acceptance request (lead rejected, senior accepted), one cache hit and a completion. */
const REPORT: StatsReport = {
  since: 1_700_000_000,
  requests: 4,
  bySource: { chat: 2, api: 1, completion: 1 },
  tiers: [
    {
      tier: 'lead',
      attempts: 2,
      outcomes: { rejected: 1, accepted: 1 },
      acceptanceRate: 0.5,
      reasons: { 'rejected: python code block does not parse': 1 },
      latencyMs: { p50: 120, p95: 300 },
      firstTokenMs: { p50: 40, p95: 90 },
      tokensPerS: 55.5,
    },
    {
      tier: 'senior',
      attempts: 2,
      outcomes: { accepted: 1, error: 1 },
      acceptanceRate: 0.5,
      reasons: { 'error: timeout after 30 s': 3 },
      latencyMs: { p50: 800, p95: 900 },
      firstTokenMs: { p50: null, p95: null },
      tokensPerS: null,
    },
  ],
  routes: [{ route: 'general/fix', requests: 2, escalated: 1, escalationRate: 0.5 }],
  routerDecisions: { chat: { classifier: 1, model: 1 }, api: { caller: 1 } },
  cacheHits: 1,
  cacheHitRate: 0.3333,
  completionsShown: 1,
  completionsAccepted: 1,
  completionAcceptanceRate: 1,
  feedback: { shown: 1, accepted: 1, unhelpful: 1 },
  timeline: [{ day: '2026-12-03', requests: 4, accepted: 3, cached: 1 }],
};

interface Series {
  readonly label?: string;
  readonly data: unknown[];
}

function datasets(id: string): Series[] {
  const spec = dashboardCharts(REPORT, THEME).find((c) => c.id === id);
  assert.ok(spec, id);
  return spec.config.data.datasets.map((d): Series => ({ ...(d.label !== undefined ? { label: d.label } : {}), data: [...d.data] }));
}

function byLabel(id: string): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const d of datasets(id)) out[d.label ?? ''] = d.data;
  return out;
}

function labels(id: string): unknown[] {
  const spec = dashboardCharts(REPORT, THEME).find((c) => c.id === id);
  assert.ok(spec, id);
  return spec.config.data.labels ?? [];
}

describe('dashboard charts', () => {
  test('one chart per figure of issue 12, in order, none animated', () => {
    const charts = dashboardCharts(REPORT, THEME);
    assert.deepEqual(charts.map((c) => c.id), ['attempts', 'acceptance', 'latency', 'ttft', 'speed', 'escalation', 'router', 'reasons', 'cache', 'completions', 'timeline']);
    for (const chart of charts) assert.equal((chart.config.options as { animation?: unknown }).animation, false, chart.id);
  });

  test('attempts per tier are stacked by outcome', () => {
    assert.deepEqual(labels('attempts'), ['lead', 'senior']);
    assert.deepEqual(byLabel('attempts'), { accepted: [1, 1], rejected: [1, 0], error: [0, 1], skipped: [0, 0] });
  });

  test('rates are percentages; missing samples are gaps, not zeros', () => {
    assert.deepEqual(datasets('acceptance')[0]?.data, [50, 50]);
    assert.deepEqual(datasets('escalation')[0]?.data, [50]);
    assert.deepEqual(labels('escalation'), ['general/fix (2)']);
    assert.deepEqual(datasets('ttft').map((d) => d.data), [[40, null], [90, null]]);
    assert.deepEqual(datasets('latency').map((d) => [d.label, d.data]), [['p50', [120, 800]], ['p95', [300, 900]]]);
    assert.deepEqual(datasets('speed')[0]?.data, [55.5, null]);
  });

  test('router decisions by source, cache and completion doughnuts, timeline', () => {
    assert.deepEqual(labels('router'), ['api', 'chat']);
    assert.deepEqual(byLabel('router'), { caller: [1, 0], classifier: [0, 1], model: [0, 1] });
    assert.deepEqual(datasets('cache')[0]?.data, [1, 2]); // 3 answered requests (completions excluded), 1 from the cache
    assert.deepEqual(datasets('completions')[0]?.data, [1, 0]);
    assert.deepEqual(labels('timeline'), ['2026-12-03']);
    assert.deepEqual(datasets('timeline').map((d) => d.data), [[4], [3], [1]]);
  });

  test('reasons: most frequent first, with their tier', () => {
    assert.deepEqual(topReasons(REPORT), [
      { tier: 'senior', reason: 'error: timeout after 30 s', count: 3 },
      { tier: 'lead', reason: 'rejected: python code block does not parse', count: 1 },
    ]);
    assert.deepEqual(labels('reasons'), ['senior: error: timeout after 30 s', 'lead: rejected: python code block does not parse']);
  });

  test('tiles', () => {
    const tiles = summaryTiles(REPORT);
    assert.deepEqual(tiles.map((t) => [t.label, t.value]), [['Requests', '4'], ['Cache hit rate', '33.3%'], ['Completion acceptance', '100%'], ['Feedback', '3']]);
    assert.equal(tiles[0]?.detail, 'api 1, chat 2, completion 1');
    assert.equal(percentText(null), '-');
    const placed = summaryTiles({
      ...REPORT,
      placement: {
        mode: 'complex', threshold: 0.6, configured: 0.85, thresholdMin: 0.4, thresholdMax: 0.9, reason: 'learned from 60 requests',
        bands: [], changes: [{ at: 1_700_000_000, old: 0.85, new: 0.6, reason: 'learned' }], spentTodayUsd: null, dailyBudgetUsd: 1,
      },
    });
    assert.deepEqual(placed.at(-1), { label: 'Placement', value: 'complex', detail: 'threshold 0.60: learned from 60 requests; moved 1x, last 0.85 -> 0.6' });
  });
});

describe('dashboard webview', () => {
  test('the page has the chat panel\'s CSP and no inline script', () => {
    const html = dashboardHtml({ cspSource: 'vscode-resource:', nonce: 'N0nce', scriptUri: 'vscode-resource:/dashboard.js', styleUri: 'vscode-resource:/dashboard.css' });
    const csp = /content="([^"]+)"/.exec(html)?.[1] ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-N0nce'/);
    assert.match(csp, /connect-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal((html.match(/<script/g) ?? []).length, 1);
    assert.match(html, /<script nonce="N0nce" src="vscode-resource:\/dashboard.js"><\/script>/);
  });

  test('messages from the webview are validated', () => {
    assert.deepEqual(parseDashboardMessage({ type: 'ready' }), { type: 'ready' });
    assert.deepEqual(parseDashboardMessage({ type: 'refresh', since: '30d' }), { type: 'refresh', since: '30d' });
    assert.equal(parseDashboardMessage({ type: 'refresh', since: '1y; rm -rf' }), undefined);
    assert.equal(parseDashboardMessage({ type: 'other' }), undefined);
    assert.equal(parseDashboardMessage(null), undefined);
  });
});
