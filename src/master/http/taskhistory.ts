// A task's history for the web UI's task page: each state it went through, with the reason and the
// message, as the log recorded them (GET /api/v1/tasks/:taskId/history). The task record keeps
// only its latest state, so the master remembers the recent ones beside it, in memory, from the
// events it applies (a standby from those it follows): a bounded number of tasks, the most recently
// launched or updated, a bounded number of entries each. Like usage, it is not in the log: a master
// started after a task was launched knows that task's history from then on, and says so.

import type { LoggedEvent } from '../state/index.js';
import { MusterError } from '../../core/index.js';
import type { TaskHistoryView, TaskHistoryEntryView } from '../../protocol/index.js';
import { sendJson, type Router } from './router.js';

/** MAX_TASKS is how many tasks' histories are kept: 50,000 of a few entries is a few MiB. */
export const MAX_TASKS = 50_000;
/** MAX_ENTRIES per task: the launch and the latest ones (a flapping health check must not grow it). */
export const MAX_ENTRIES = 32;

export class TaskHistory {
  private readonly byTask = new Map<string, TaskHistoryEntryView[]>();

  constructor(
    private readonly maxTasks = MAX_TASKS,
    private readonly maxEntries = MAX_ENTRIES,
  ) {}

  /** record notes the task events of a batch the log appended (or a standby followed). */
  record(batch: readonly LoggedEvent[]): void {
    for (const { index, event: e } of batch) {
      if (e.type === 'TasksLaunched') {
        for (const t of e.tasks) this.add(t.taskId, { at: e.at, index, state: 'LAUNCHED' });
      } else if (e.type === 'TaskStatusUpdated') {
        const s = e.status;
        const entry: TaskHistoryEntryView = { at: e.at, index, state: s.state };
        if (s.reason !== undefined) entry.reason = s.reason;
        if (s.message !== undefined) entry.message = s.message;
        if (s.healthy !== undefined) entry.healthy = s.healthy;
        if (e.guess === true) entry.guess = true;
        this.add(s.taskId, entry);
      }
    }
  }

  /** of is a task's history; complete when it holds the launch (this master saw it all). */
  of(taskId: string): TaskHistoryView {
    const entries = this.byTask.get(taskId) ?? [];
    return { taskId, entries: [...entries], complete: entries[0]?.state === 'LAUNCHED' && entries.length < this.maxEntries };
  }

  private add(taskId: string, entry: TaskHistoryEntryView): void {
    let list = this.byTask.get(taskId);
    if (list === undefined) {
      if (this.byTask.size >= this.maxTasks) {
        const oldest = this.byTask.keys().next();
        if (oldest.done !== true) this.byTask.delete(oldest.value);
      }
      list = [];
    } else {
      // Moved to the back: the map's order is the order of last change, the oldest go first.
      this.byTask.delete(taskId);
    }
    list.push(entry);
    // The first (the launch, when seen) stays; the oldest after it make room.
    if (list.length > this.maxEntries) list.splice(1, 1);
    this.byTask.set(taskId, list);
  }
}

export function addTaskHistoryRoutes(router: Router, deps: { history: TaskHistory; known: (taskId: string) => boolean }): void {
  router.add('GET', '/api/v1/tasks/:taskId/history', ({ res, params }) => {
    const taskId = params['taskId'] ?? '';
    if (!deps.known(taskId)) throw new MusterError('TASK_NOT_FOUND', `no task ${taskId.slice(0, 120)}; see muster task list`);
    sendJson(res, 200, deps.history.of(taskId));
  });
}
