/**
 * The dashboard's charts as Chart.js configurations, built from the server's `StatsReport` (the shape
 * of `coding-director stats --json`). Pure: no DOM, no Chart.js runtime, so the unit tests check what
 * each chart shows. The webview script (`webview/dashboard.ts`) hands these to Chart.js.
 *
 * Units: latency and time to first token in milliseconds (nearest-rank p50/p95, computed by the
 * server), decode speed in tokens per second, rates as percentages (0-100).
 */
import type { ChartConfiguration } from 'chart.js' with { 'resolution-mode': 'import' };
import type { StatsReport, TierStats } from '../generated/messages';

/** Colours taken from the workbench theme (CSS variables of the webview). */
export interface Theme {
  readonly foreground: string;
  readonly grid: string;
  /** Series colours, used in order. */
  readonly palette: readonly string[];
}

/** One chart of the dashboard: `id` names its canvas (`chart-<id>`). */
export interface ChartSpec {
  readonly id: string;
  readonly title: string;
  /** One line under the title saying what is plotted. */
  readonly caption: string;
  readonly config: ChartConfiguration;
}

/** A headline figure above the charts. */
export interface Tile {
  readonly label: string;
  readonly value: string;
  readonly detail?: string;
}

/** Attempt outcomes in the order they are stacked, with fixed meanings (not theme colours). */
export const OUTCOMES = ['accepted', 'rejected', 'error', 'skipped'] as const;
const OUTCOME_COLOURS: Record<string, string> = { accepted: '#3fb950', rejected: '#d29922', error: '#f85149', skipped: '#8b949e' };

/** `rate` (0-1, or null without samples) as a percentage with one decimal, or null. */
export function percent(rate: number | null | undefined): number | null {
  return rate === null || rate === undefined ? null : Math.round(rate * 1000) / 10;
}

/** `rate` as text: `"42.5%"`, or `"-"` without samples. */
export function percentText(rate: number | null | undefined): string {
  const p = percent(rate);
  return p === null ? '-' : `${p}%`;
}

function count(map: { readonly [k: string]: number | undefined }, key: string): number {
  return map[key] ?? 0;
}

function colour(theme: Theme, index: number): string {
  return theme.palette[index % theme.palette.length] ?? theme.foreground;
}

/** Axis and legend styling shared by every chart (no animation: the picture is the data). */
function options(theme: Theme, extra: { indexAxis?: 'x' | 'y'; stacked?: boolean; max?: number; unit?: string } = {}): ChartConfiguration['options'] {
  const axis = { ticks: { color: theme.foreground }, grid: { color: theme.grid }, stacked: extra.stacked ?? false };
  const valueAxis = {
    ...axis,
    beginAtZero: true,
    ...(extra.max !== undefined ? { max: extra.max } : {}),
    ...(extra.unit ? { title: { display: true, text: extra.unit, color: theme.foreground } } : {}),
  };
  const horizontal = extra.indexAxis === 'y';
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    indexAxis: extra.indexAxis ?? 'x',
    plugins: { legend: { labels: { color: theme.foreground } } },
    scales: horizontal ? { x: valueAxis, y: axis } : { x: axis, y: valueAxis },
  };
}

function bar(labels: string[], datasets: { label: string; data: (number | null)[]; backgroundColor: string }[], opts: ChartConfiguration['options']): ChartConfiguration {
  return { type: 'bar', data: { labels, datasets }, options: opts };
}

function pairOf(tiers: readonly TierStats[], theme: Theme, pick: (t: TierStats) => { p50?: number | null; p95?: number | null }): ChartConfiguration {
  return bar(
    tiers.map((t) => t.tier),
    [
      { label: 'p50', data: tiers.map((t) => pick(t).p50 ?? null), backgroundColor: colour(theme, 0) },
      { label: 'p95', data: tiers.map((t) => pick(t).p95 ?? null), backgroundColor: colour(theme, 1) },
    ],
    options(theme, { unit: 'ms' }),
  );
}

/** Every rejection and error reason with its tier, most frequent first (at most `limit`). */
export function topReasons(report: StatsReport, limit = 10): { tier: string; reason: string; count: number }[] {
  const all = report.tiers.flatMap((t) => Object.entries(t.reasons).map(([reason, n]) => ({ tier: t.tier, reason, count: n ?? 0 })));
  return all.sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)).slice(0, limit);
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The placement tile: where requests run (routing.frontier), the threshold in force and why. */
function placementTile(report: StatsReport): Tile[] {
  const p = report.placement;
  if (!p) return [];
  const changes = p.changes ?? [];
  const moved = changes.length > 0 ? `; moved ${changes.length}x, last ${changes[0]?.old ?? '-'} -> ${changes[0]?.new}` : '';
  return [{ label: 'Placement', value: p.mode, detail: `threshold ${p.threshold.toFixed(2)}: ${p.reason}${moved}` }];
}

/** The headline figures: requests (by source), cache hit rate, completion acceptance, feedback, placement. */
export function summaryTiles(report: StatsReport): Tile[] {
  const sources = Object.entries(report.bySource)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([s, n]) => `${s} ${n ?? 0}`)
    .join(', ');
  const feedback = Object.entries(report.feedback)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${n ?? 0}`)
    .join(', ');
  return [
    { label: 'Requests', value: String(report.requests), detail: sources || 'none yet' },
    { label: 'Cache hit rate', value: percentText(report.cacheHitRate), detail: `${report.cacheHits} answered from the cache` },
    {
      label: 'Completion acceptance',
      value: percentText(report.completionAcceptanceRate),
      detail: `${report.completionsAccepted} of ${report.completionsShown} shown`,
    },
    { label: 'Feedback', value: String(Object.values(report.feedback).reduce<number>((a, n) => a + (n ?? 0), 0)), detail: feedback || 'none yet' },
    ...placementTile(report),
  ];
}

/** Every chart of the dashboard, in display order. */
export function dashboardCharts(report: StatsReport, theme: Theme): ChartSpec[] {
  const tiers = report.tiers;
  const names = tiers.map((t) => t.tier);
  const reasons = topReasons(report);
  const decisionKinds = [...new Set(Object.values(report.routerDecisions).flatMap((d) => Object.keys(d ?? {})))].sort();
  const sources = Object.keys(report.routerDecisions).sort();
  const shown = report.completionsShown;
  const answered = Object.entries(report.bySource).reduce((a, [s, n]) => a + (s === 'completion' ? 0 : (n ?? 0)), 0);
  return [
    {
      id: 'attempts',
      title: 'Attempts per tier',
      caption: 'Attempts by outcome (stacked).',
      config: bar(
        names,
        OUTCOMES.map((o) => ({ label: o, data: tiers.map((t) => count(t.outcomes, o)), backgroundColor: OUTCOME_COLOURS[o] ?? theme.foreground })),
        options(theme, { stacked: true, unit: 'attempts' }),
      ),
    },
    {
      id: 'acceptance',
      title: 'Acceptance rate per tier',
      caption: 'Accepted / attempts that called a model.',
      config: bar(names, [{ label: 'accepted %', data: tiers.map((t) => percent(t.acceptanceRate)), backgroundColor: OUTCOME_COLOURS.accepted ?? '' }], options(theme, { max: 100, unit: '%' })),
    },
    { id: 'latency', title: 'Latency per tier', caption: 'Attempt wall time, p50 and p95 (ms).', config: pairOf(tiers, theme, (t) => t.latencyMs) },
    { id: 'ttft', title: 'Time to first token per tier', caption: 'p50 and p95 (ms).', config: pairOf(tiers, theme, (t) => t.firstTokenMs) },
    {
      id: 'speed',
      title: 'Decode speed per tier',
      caption: 'Completion tokens / (latency - time to first token), median (tokens/s).',
      config: bar(names, [{ label: 'tokens/s', data: tiers.map((t) => t.tokensPerS), backgroundColor: colour(theme, 2) }], options(theme, { unit: 'tokens/s' })),
    },
    {
      id: 'escalation',
      title: 'Escalation rate by route',
      caption: 'Requests that went past their first tier (%).',
      config: bar(
        report.routes.map((r) => `${r.route} (${r.requests})`),
        [{ label: 'escalated %', data: report.routes.map((r) => percent(r.escalationRate)), backgroundColor: OUTCOME_COLOURS.rejected ?? '' }],
        options(theme, { indexAxis: 'y', max: 100, unit: '%' }),
      ),
    },
    {
      id: 'router',
      title: 'Router decisions by source',
      caption: 'Who decided the route of each request, per source (stacked).',
      config: bar(
        sources,
        decisionKinds.map((kind, i) => ({ label: kind, data: sources.map((s) => count(report.routerDecisions[s] ?? {}, kind)), backgroundColor: colour(theme, i) })),
        options(theme, { stacked: true, unit: 'requests' }),
      ),
    },
    {
      id: 'reasons',
      title: 'Rejection and error reasons',
      caption: 'Most frequent first (tier: outcome: reason).',
      config: bar(
        reasons.map((r) => shorten(`${r.tier}: ${r.reason}`, 70)),
        [{ label: 'attempts', data: reasons.map((r) => r.count), backgroundColor: OUTCOME_COLOURS.error ?? '' }],
        options(theme, { indexAxis: 'y', unit: 'attempts' }),
      ),
    },
    {
      id: 'cache',
      title: 'Cache hit rate',
      caption: `${percentText(report.cacheHitRate)} of ${answered} answered requests.`,
      config: {
        type: 'doughnut',
        data: { labels: ['from the cache', 'asked the team'], datasets: [{ data: [report.cacheHits, Math.max(0, answered - report.cacheHits)], backgroundColor: [colour(theme, 0), theme.grid] }] },
        options: { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { labels: { color: theme.foreground } } } },
      },
    },
    {
      id: 'completions',
      title: 'Completion acceptance rate',
      caption: `${percentText(report.completionAcceptanceRate)} of ${shown} inline completions shown.`,
      config: {
        type: 'doughnut',
        data: { labels: ['accepted', 'not accepted'], datasets: [{ data: [report.completionsAccepted, Math.max(0, shown - report.completionsAccepted)], backgroundColor: [OUTCOME_COLOURS.accepted ?? '', theme.grid] }] },
        options: { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { labels: { color: theme.foreground } } } },
      },
    },
    {
      id: 'timeline',
      title: 'Timeline',
      caption: 'Requests per day (UTC): all, accepted, from the cache.',
      config: {
        type: 'line',
        data: {
          labels: report.timeline.map((p) => p.day),
          datasets: [
            { label: 'requests', data: report.timeline.map((p) => p.requests), borderColor: colour(theme, 0), backgroundColor: colour(theme, 0) },
            { label: 'accepted', data: report.timeline.map((p) => p.accepted), borderColor: OUTCOME_COLOURS.accepted, backgroundColor: OUTCOME_COLOURS.accepted },
            { label: 'cached', data: report.timeline.map((p) => p.cached), borderColor: colour(theme, 1), backgroundColor: colour(theme, 1) },
          ],
        },
        options: options(theme, { unit: 'requests' }),
      },
    },
  ];
}
