/**
 * Every VS Code-internal selector the end-to-end tests use, in one place. They are workbench DOM
 * classes of VS Code 1.100 (code-server 4.100.3): stable there, not an API.
 */
export const sel = {
  workbench: '.monaco-workbench',
  statusItem: '.statusbar-item',
  /** The activity-bar entry of the Coding Director view container. */
  activityBarEntry: '.activitybar .action-item a[aria-label^="Coding Director"]',
  /** Outer iframe of any of our webviews (its src names the extension), then the inner content frame. */
  chatOuterFrame: 'iframe.webview[src*="extensionId=coding-director.coding-director"]',
  /** The chat view's outer iframe only (a view's src says purpose=webviewView; the dashboard panel's does not). */
  chatViewFrame: 'iframe.webview[src*="extensionId=coding-director.coding-director"][src*="purpose=webviewView"]',
  webviewInnerFrame: '#active-frame',
  editor: '.monaco-editor[data-uri$="{file}"]',
  anyEditorLines: '.editor-instance .monaco-editor .view-lines',
  quickInput: '.quick-input-widget input',
  quickInputRow: '.quick-input-widget .monaco-list-row',
  contextMenuItem: '.context-view .monaco-menu .action-label',
  notificationToast: '.notifications-toasts .notification-toast',
  notificationButton: '.notifications-toasts .notification-toast .monaco-button',
  ghostText: '[class*="ghost-text"]',
  diffEditor: '.monaco-diff-editor',
  /** Rows of the code action (lightbulb / Ctrl+.) menu. */
  codeActionRow: '.action-widget .monaco-list-row',
} as const;

/** Selectors inside the chat webview (our own markup: src/chat/html.ts and src/webview/main.ts). */
export const chat = {
  prompt: '#prompt',
  send: '#send',
  stop: '#stop',
  turn: 'article.turn',
  streamingTurn: 'article.turn.status-streaming',
  doneTurn: 'article.turn.status-done',
  cancelledTurn: 'article.turn.status-cancelled',
  answer: '.answer',
  tierBadge: '.tier-badge',
  trail: 'details.trail',
  /** Text rejected after it streamed, collapsed and struck through (`discarded: <reason>`). */
  discarded: 'details.discarded',
  codeButton: '.code-actions button',
  sourceLink: '.sources .source-link',
  /** The badge of an answer served from the team memory's response cache. */
  cachedBadge: '.meta .state-badge.cached',
} as const;

/** Selectors inside the dashboard webview (src/dashboard/html.ts and src/webview/dashboard.ts). */
export const dashboard = {
  root: '#dashboard',
  ready: 'body[data-state="ready"]',
  tile: '#tiles .tile',
  tileValue: '.tile-value',
  card: '#dashboard section.card',
  canvas: '#dashboard canvas',
  reasonRow: '#reasons-table tr',
} as const;
