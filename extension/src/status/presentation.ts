/**
 * What the status bar shows for each state of the server (from `codingDirector/status`) or of the
 * client (before the server can report anything). Pure: unit-tested without VS Code.
 */
import type { StatusParams } from '../protocol';

/** States only the client knows about (no server process, or not yet talking). */
export type ClientState = 'untrusted' | 'discovering' | 'noPython' | 'installing' | 'starting' | 'stopped' | 'failed';

/** Everything the status bar can reflect. */
export type StatusSnapshot =
  | { readonly origin: 'server'; readonly params: StatusParams }
  | { readonly origin: 'client'; readonly state: ClientState; readonly message: string };

/** How the status bar item looks. `text` may contain `$(codicon)` references. */
export interface StatusLook {
  readonly text: string;
  readonly tooltip: string;
  /** `error`/`warning` map to the statusBarItem error/warning background colours. */
  readonly severity: 'none' | 'warning' | 'error';
}

/**
 * Status bar look of a snapshot.
 *
 * @returns e.g. `{text: '$(loading~spin) CD: senior', tooltip: 'Answering with senior...', severity: 'none'}`.
 */
export function statusLook(snapshot: StatusSnapshot): StatusLook {
  if (snapshot.origin === 'client') {
    switch (snapshot.state) {
      case 'untrusted':
        return { text: '$(shield) Coding Director', tooltip: `Restricted mode: ${snapshot.message}`, severity: 'none' };
      case 'discovering':
      case 'starting':
      case 'installing':
        return { text: '$(sync~spin) Coding Director', tooltip: snapshot.message, severity: 'none' };
      case 'noPython':
        return { text: '$(error) Coding Director: no server', tooltip: snapshot.message, severity: 'error' };
      case 'stopped':
        return { text: '$(circle-slash) Coding Director: stopped', tooltip: snapshot.message, severity: 'warning' };
      case 'failed':
        return { text: '$(error) Coding Director: server failed', tooltip: snapshot.message, severity: 'error' };
    }
  }
  const p = snapshot.params;
  switch (p.state) {
    case 'starting':
      return { text: '$(sync~spin) Coding Director', tooltip: p.message, severity: 'none' };
    case 'ready':
      return p.runtimeKind === 'embedded'
        ? { text: '$(hubot) CD: built-in model', tooltip: `${p.message}\nAnswering: ${p.runtime ?? 'the built-in model'}`, severity: 'none' }
        : { text: '$(hubot) Coding Director', tooltip: p.runtime ? `${p.message}\nAnswering: ${p.runtime}` : p.message, severity: 'none' };
    case 'busy':
      return { text: `$(loading~spin) CD: ${p.busyTier ?? 'busy'}`, tooltip: p.message, severity: 'none' };
    case 'endpointDown':
      return {
        text: '$(debug-disconnect) CD: endpoint down',
        tooltip: p.endpoint ? `${p.message} (${p.endpoint})` : p.message,
        severity: 'error',
      };
    case 'modelsMissing': {
      const missing = p.missingModels ?? [];
      const count = missing.length;
      return {
        text: `$(warning) CD: ${count === 1 ? '1 model' : `${count} models`} missing`,
        tooltip: count > 0 ? `${p.message}\nMissing: ${missing.join(', ')}` : p.message,
        severity: 'warning',
      };
    }
  }
}

/** Look of the second status bar item, the inline-completions toggle. */
export function completionsLook(enabled: boolean): StatusLook {
  return enabled
    ? { text: '$(sparkle)', tooltip: 'Coding Director inline completions: on (click to turn off)', severity: 'none' }
    : { text: '$(circle-slash) $(sparkle)', tooltip: 'Coding Director inline completions: off (click to turn on)', severity: 'none' };
}

/** Identifiers of the status quick pick entries. */
export type MenuAction = 'pullModels' | 'toggleCompletions' | 'openLogs' | 'restartServer' | 'openSettings' | 'openChat' | 'showStats';

/** One quick pick entry. */
export interface MenuItem {
  readonly action: MenuAction;
  readonly label: string;
  readonly description?: string;
}

/**
 * The quick pick shown when the status bar item is clicked. "Pull missing models" comes first and only
 * when models are missing; statistics only while the server runs.
 */
export function menuItems(snapshot: StatusSnapshot, completionsEnabled: boolean): MenuItem[] {
  const items: MenuItem[] = [];
  const serverUp = snapshot.origin === 'server';
  if (serverUp && snapshot.params.state === 'modelsMissing') {
    const missing = snapshot.params.missingModels ?? [];
    items.push({ action: 'pullModels', label: '$(cloud-download) Pull missing models', description: missing.join(', ') });
  }
  items.push({
    action: 'toggleCompletions',
    label: completionsEnabled ? '$(circle-slash) Turn inline completions off' : '$(sparkle) Turn inline completions on',
  });
  items.push({ action: 'openChat', label: '$(comment-discussion) Open chat' });
  if (serverUp) items.push({ action: 'showStats', label: '$(graph) Show dashboard' });
  items.push({ action: 'openLogs', label: '$(output) Open logs' });
  items.push({ action: 'restartServer', label: '$(debug-restart) Restart server' });
  items.push({ action: 'openSettings', label: '$(gear) Open settings' });
  return items;
}
