/**
 * Mapping between the extension's `codingDirector.*` VS Code settings and the server's settings
 * object (the shape of `shared-schemas/Settings.schema.json`: snake_case keys, nested sections).
 *
 * Pure: no `vscode` import, so the unit tests and the `gen` tool (which checks `package.json`'s
 * `contributes.configuration` against the schema) use it unchanged.
 */

/** A JSON value as it arrives from VS Code settings. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A settings patch in the server's shape: only the keys the user set, nested by section. */
export type ServerSettingsPatch = { [key: string]: JsonValue };

/** One VS Code setting and where it lands in the server's settings object. */
export interface SettingMapping {
  /** Key below `codingDirector.`, e.g. `routing.generalChain`. */
  readonly key: string;
  /** Path in the server's settings object, e.g. `['routing', 'general_chain']`. */
  readonly path: readonly string[];
  /**
   * `value` (default): the value is copied to `path`.
   * `tierMap`: the value is an object `{tierName: TierSettings-shaped object}` merged into `tiers`.
   */
  readonly kind?: 'value' | 'tierMap';
}

/** Every VS Code setting that is forwarded to the server, in application order (later wins). */
export const SETTING_MAP: readonly SettingMapping[] = [
  { key: 'tiers.overrides', path: ['tiers'], kind: 'tierMap' },
  { key: 'ollama.host', path: ['ollama', 'host'] },
  { key: 'ollama.keepAlive', path: ['ollama', 'keep_alive'] },
  { key: 'tiers.router.model', path: ['tiers', 'router', 'model'] },
  { key: 'tiers.math.model', path: ['tiers', 'math', 'model'] },
  { key: 'tiers.lead.model', path: ['tiers', 'lead', 'model'] },
  { key: 'tiers.senior.model', path: ['tiers', 'senior', 'model'] },
  { key: 'tiers.principal.model', path: ['tiers', 'principal', 'model'] },
  { key: 'routing.router', path: ['routing', 'router'] },
  { key: 'routing.generalChain', path: ['routing', 'general_chain'] },
  { key: 'routing.mathChain', path: ['routing', 'math_chain'] },
  { key: 'routing.confidenceThreshold', path: ['routing', 'confidence_threshold'] },
  { key: 'routing.maxAttempts', path: ['routing', 'max_attempts'] },
  { key: 'routing.attemptTimeoutSeconds', path: ['routing', 'attempt_timeout_s'] },
  { key: 'completions.enabled', path: ['completion', 'enabled'] },
  { key: 'completions.tier', path: ['completion', 'tier'] },
  { key: 'completions.debounceMs', path: ['completion', 'debounce_ms'] },
  { key: 'completions.maxTokens', path: ['completion', 'max_tokens'] },
  { key: 'completions.keepAlive', path: ['completion', 'keep_alive'] },
  { key: 'completions.timeoutMs', path: ['completion', 'timeout_ms'] },
  { key: 'embedded.enabled', path: ['embedded', 'enabled'] },
  { key: 'embedded.modelFile', path: ['embedded', 'model_file'] },
];

/** Settings used only by the extension itself (never sent to the server). */
export const CLIENT_ONLY_KEYS: readonly string[] = ['server.pythonPath', 'server.configFile', 'trace.server'];

/** Settings whose change needs a server restart (everything else flows live through `workspace/configuration`). */
export const RESTART_KEYS: readonly string[] = ['server.pythonPath', 'server.configFile'];

/** The configuration section the server asks for in `workspace/configuration`. */
export const CONFIG_SECTION = 'codingDirector';

function isPlainObject(value: unknown): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Strings are trimmed; an empty string means "not set" (the server's default applies). */
function clean(value: JsonValue): JsonValue | undefined {
  if (typeof value === 'string') {
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  }
  if (Array.isArray(value)) {
    return value.map((item) => (typeof item === 'string' ? item.trim() : item)).filter((item) => item !== '');
  }
  return value;
}

function setPath(target: ServerSettingsPatch, path: readonly string[], value: JsonValue): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (!isPlainObject(next)) {
      const created: ServerSettingsPatch = {};
      node[part] = created;
      node = created;
    } else {
      node = next;
    }
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}

/**
 * Turns the settings the user set explicitly into the server's settings patch.
 *
 * @param explicit - map from a key below `codingDirector.` (e.g. `completions.debounceMs`) to the value
 *   the user set (in any scope); keys with `undefined` values and unknown keys are ignored.
 * @returns a nested object in the shape of `Settings.schema.json` containing only the mapped keys that were
 *   set, e.g. `{completion: {debounce_ms: 300}}`. Values are not validated here: the server validates them
 *   and reports a bad value by key. Empty strings are dropped so that clearing a field restores the
 *   server's default; for tiers, `tiers.<name>.model` wins over `tiers.overrides.<name>.model`.
 */
export function mapSettings(explicit: Readonly<Record<string, unknown>>): ServerSettingsPatch {
  const patch: ServerSettingsPatch = {};
  for (const mapping of SETTING_MAP) {
    const raw = explicit[mapping.key] as JsonValue | undefined;
    if (raw === undefined) continue;
    if (mapping.kind === 'tierMap') {
      if (!isPlainObject(raw)) continue;
      for (const [tier, spec] of Object.entries(raw)) {
        if (!isPlainObject(spec)) continue;
        for (const [field, value] of Object.entries(spec)) {
          const cleaned = value === null ? null : clean(value);
          if (cleaned !== undefined) setPath(patch, [...mapping.path, tier, field], cleaned);
        }
      }
      continue;
    }
    const cleaned = clean(raw);
    if (cleaned !== undefined) setPath(patch, mapping.path, cleaned);
  }
  return patch;
}

/**
 * The value a user set explicitly for one setting, from VS Code's `inspect()` result: the most specific
 * of workspace-folder, workspace and global (user) values; `undefined` when only the default applies.
 */
export function explicitValue<T>(
  inspected: { globalValue?: T; workspaceValue?: T; workspaceFolderValue?: T } | undefined,
): T | undefined {
  if (!inspected) return undefined;
  return inspected.workspaceFolderValue ?? inspected.workspaceValue ?? inspected.globalValue;
}

/**
 * Whether a configuration change needs a server restart.
 *
 * @param affects - VS Code's `ConfigurationChangeEvent.affectsConfiguration`, bound to the event.
 */
export function needsRestart(affects: (section: string) => boolean): boolean {
  return RESTART_KEYS.some((key) => affects(`${CONFIG_SECTION}.${key}`));
}
