/** Reading the `codingDirector.*` settings through the VS Code API. */
import * as vscode from 'vscode';
import { CONFIG_SECTION, SETTING_MAP, explicitValue, mapSettings, type ServerSettingsPatch } from './mapping';

/**
 * The settings the user set explicitly (user, workspace or folder scope), mapped to the server's shape.
 * Defaults are not sent: the server applies its own defaults and its TOML file underneath.
 *
 * @param scope - resource whose folder-level settings apply (from `workspace/configuration`'s `scopeUri`).
 */
export function currentServerSettings(scope?: vscode.Uri): ServerSettingsPatch {
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION, scope);
  const explicit: Record<string, unknown> = {};
  for (const { key } of SETTING_MAP) explicit[key] = explicitValue(config.inspect(key));
  return mapSettings(explicit);
}

/** Whether inline completions are on (`codingDirector.completions.enabled`, default true). */
export function completionsEnabled(): boolean {
  return vscode.workspace.getConfiguration(CONFIG_SECTION).get<boolean>('completions.enabled', true);
}
