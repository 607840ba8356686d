/**
 * Names of the custom LSP methods and commands shared with the server
 * (`server/coding_director/messages.py`); their payload types are generated into `generated/messages.ts`.
 */
export type {
  Assistance,
  Attempt,
  ChatEvent,
  ChatMessage,
  ChatParams,
  FeedbackParams,
  RouteDecision,
  Settings,
  Source,
  StatsParams,
  StatsReport,
  StatusParams,
  Withheld,
} from './generated/messages';

/** Request, client -> server: params `ChatParams`, result `Assistance`. */
export const CHAT_METHOD = 'codingDirector/chat';
/**
 * Request, client -> server: params `ChatParams`, result `Assistance` (the task's summary). Streams
 * `ChatEvent`s like a chat, then proposes the change with `workspace/applyEdit` (refactor preview).
 */
export const TASK_METHOD = 'codingDirector/task';
/** What a chat prompt starts with to run a multi-role task instead of a question. */
export const TASK_PREFIX = '/task ';
/** Notification, server -> client: `ChatEvent`. */
export const CHAT_EVENT_METHOD = 'codingDirector/chatEvent';
/** Notification, server -> client: `StatusParams`. */
export const STATUS_METHOD = 'codingDirector/status';
/** Notification, client -> server: `FeedbackParams` (helpful / unhelpful, a code block inserted or applied). */
export const FEEDBACK_METHOD = 'codingDirector/feedback';
/** Request, client -> server: params `StatsParams` (`{since: "7d"}`), result `StatsReport` (the dashboard's figures). */
export const STATS_METHOD = 'codingDirector/stats';
/** Client-side command with one `ChatParams`-shaped argument (without `chatId`). */
export const ASK_IN_CHAT_COMMAND = 'codingDirector.askInChat';
/** Server command (workspace/executeCommand): pull the missing models, reporting work-done progress. */
export const PULL_MODELS_COMMAND = 'codingDirector.pullModels';
/** Server command (workspace/executeCommand): show statistics. */
export const SHOW_STATS_COMMAND = 'codingDirector.showStats';
/**
 * `window/showDocument` URI of the server's "Open settings" action (built-in model notice): the client
 * opens the `codingDirector.embedded` settings instead of a document.
 */
export const OPEN_SETTINGS_URI = 'coding-director://settings/embedded';
