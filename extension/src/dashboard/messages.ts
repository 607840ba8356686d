/**
 * Messages between the dashboard webview and the extension (postMessage), shared by both bundles.
 * The extension validates what it receives with {@link parseDashboardMessage}.
 */
import type { StatsReport } from '../generated/messages';

/** The periods the dashboard offers (`--since` durations of `coding-director stats`). */
export const PERIODS = ['24h', '7d', '30d', '90d'] as const;
export type Period = (typeof PERIODS)[number];
export const DEFAULT_PERIOD: Period = '7d';

/** Extension -> webview. */
export type ToDashboard =
  | { readonly type: 'loading'; readonly since: Period }
  | { readonly type: 'stats'; readonly since: Period; readonly report: StatsReport }
  | { readonly type: 'error'; readonly since: Period; readonly message: string };

/** Webview -> extension: `ready` once the script runs, `refresh` for a period. */
export type FromDashboard = { readonly type: 'ready' } | { readonly type: 'refresh'; readonly since: Period };

/** Validates a message from the dashboard webview; `undefined` for anything malformed. */
export function parseDashboardMessage(raw: unknown): FromDashboard | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const m = raw as Record<string, unknown>;
  if (m.type === 'ready') return { type: 'ready' };
  if (m.type === 'refresh' && typeof m.since === 'string' && (PERIODS as readonly string[]).includes(m.since)) {
    return { type: 'refresh', since: m.since as Period };
  }
  return undefined;
}
