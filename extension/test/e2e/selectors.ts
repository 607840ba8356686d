/**
 * Every VS Code-internal selector the end-to-end tests use, in one place. They are workbench DOM
 * classes of VS Code 1.100 (code-server 4.100.3): stable there, not an API.
 */
export const sel = {
  workbench: '.monaco-workbench',
  statusItem: '.statusbar-item',
  /** The activity-bar entry of the Coding Director view container. */
  activityBarEntry: '.activitybar .action-item a[aria-label^="Coding Director"]',
  /** Outer iframe of our webview (its src names the extension), then the inner content frame. */
  chatOuterFrame: 'iframe.webview[src*="extensionId=coding-director.coding-director"]',
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
} as const;
