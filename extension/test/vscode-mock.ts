/**
 * A small stand-in for the `vscode` module, enough for the unit-tested modules that touch the API
 * (settings reading, status bar). Test bundles alias `vscode` to this file. Tests drive it through
 * {@link mockState}.
 */

type Inspect = { key: string; defaultValue?: unknown; globalValue?: unknown; workspaceValue?: unknown; workspaceFolderValue?: unknown };

/** Mutable state the tests set up and inspect. */
export const mockState = {
  /** Full key (`codingDirector.completions.enabled`) -> values per scope. */
  settings: new Map<string, Omit<Inspect, 'key'>>(),
  statusBarItems: [] as MockStatusBarItem[],
  reset(): void {
    this.settings.clear();
    this.statusBarItems.length = 0;
  },
};

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}

export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}

export class ThemeColor {
  constructor(public readonly id: string) {}
}

export class Disposable {
  constructor(private readonly onDispose: () => void) {}
  dispose(): void {
    this.onDispose();
  }
}

export class MockStatusBarItem {
  text = '';
  tooltip: string | undefined;
  name: string | undefined;
  command: string | undefined;
  backgroundColor: ThemeColor | undefined;
  visible = false;
  disposed = false;
  constructor(
    public readonly id: string,
    public readonly alignment: StatusBarAlignment,
    public readonly priority: number,
  ) {}
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {
    this.disposed = true;
  }
}

export class Uri {
  private constructor(
    public readonly scheme: string,
    public readonly path: string,
  ) {}
  static parse(value: string): Uri {
    const match = /^([a-z][a-z0-9+.-]*):(?:\/\/[^/]*)?(.*)$/i.exec(value);
    return new Uri(match?.[1] ?? 'file', match?.[2] ?? value);
  }
  static file(path: string): Uri {
    return new Uri('file', path);
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return `${this.scheme}://${this.path}`;
  }
}

class Configuration {
  constructor(private readonly section: string) {}
  private full(key: string): string {
    return this.section ? `${this.section}.${key}` : key;
  }
  inspect(key: string): Inspect | undefined {
    const values = mockState.settings.get(this.full(key));
    return values ? { key: this.full(key), ...values } : { key: this.full(key) };
  }
  get<T>(key: string, defaultValue?: T): T | undefined {
    const v = mockState.settings.get(this.full(key));
    const value = v?.workspaceFolderValue ?? v?.workspaceValue ?? v?.globalValue ?? v?.defaultValue;
    return (value ?? defaultValue) as T | undefined;
  }
  has(key: string): boolean {
    return mockState.settings.has(this.full(key));
  }
  update(key: string, value: unknown): Promise<void> {
    const current = mockState.settings.get(this.full(key)) ?? {};
    mockState.settings.set(this.full(key), { ...current, globalValue: value });
    return Promise.resolve();
  }
}

export const workspace = {
  getConfiguration(section = ''): Configuration {
    return new Configuration(section);
  },
  workspaceFolders: undefined as { uri: Uri }[] | undefined,
  isTrusted: true,
};

export const window = {
  createStatusBarItem(id: string, alignment: StatusBarAlignment, priority: number): MockStatusBarItem {
    const item = new MockStatusBarItem(id, alignment, priority);
    mockState.statusBarItems.push(item);
    return item;
  },
};
