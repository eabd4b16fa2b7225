// A task checkpoint, workDir/tasks/<taskId>.json, records what the agent started for a task (the
// TaskInfo, each process's pid and start time) so that an agent that restarts can find what its
// predecessor left running. It is written right after the spawn and removed once the master has
// acknowledged the task's terminal update.

import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { isSafeId } from '../core/index.js';
import type { Logger } from '../log/index.js';
import type { TaskInfo } from '../protocol/index.js';
import { MAX_STATE_FILE_BYTES, writeJsonAtomic } from './workdir.js';

/** CheckpointedProcess is one process of a task as it was spawned. */
export interface CheckpointedProcess {
  name: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat right after the spawn; absent where /proc could not be read. */
  startTime?: string;
}

/** TaskCheckpoint is the content of one checkpoint file. */
export interface TaskCheckpoint {
  task: TaskInfo;
  processes: CheckpointedProcess[];
}

function checkpointFile(workDir: string, taskId: string): string {
  return path.join(workDir, 'tasks', `${taskId}.json`);
}

/** writeCheckpoint records a task's processes; the task id must be safe (it names the file). */
export function writeCheckpoint(workDir: string, checkpoint: TaskCheckpoint): void {
  if (!isSafeId(checkpoint.task.taskId)) throw new Error(`refusing to checkpoint unsafe task id ${checkpoint.task.taskId}`);
  writeJsonAtomic(checkpointFile(workDir, checkpoint.task.taskId), checkpoint);
}

/** removeCheckpoint forgets a task; a missing file or an unsafe id is a no-op. */
export function removeCheckpoint(workDir: string, taskId: string): void {
  if (!isSafeId(taskId)) return;
  rmSync(checkpointFile(workDir, taskId), { force: true });
}

/** readCheckpoints returns every readable checkpoint; unreadable ones are logged and removed. */
export function readCheckpoints(workDir: string, logger: Logger): TaskCheckpoint[] {
  const dir = path.join(workDir, 'tasks');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: TaskCheckpoint[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    if (name.includes('.tmp-')) {
      // A write that crashed before its rename: the real file (if any) is still intact.
      rmSync(file, { force: true });
      continue;
    }
    if (!name.endsWith('.json')) continue;
    try {
      if (statSync(file).size > MAX_STATE_FILE_BYTES) throw new Error('file is too large');
      out.push(parseCheckpoint(JSON.parse(readFileSync(file, 'utf8')) as unknown));
    } catch (err) {
      logger.warn('removing an unreadable task checkpoint', { file, error: err });
      rmSync(file, { force: true });
    }
  }
  return out;
}

function parseCheckpoint(doc: unknown): TaskCheckpoint {
  const cp = doc as Partial<TaskCheckpoint> | null;
  if (typeof cp !== 'object' || cp === null || typeof cp.task?.taskId !== 'string' || !Array.isArray(cp.processes)) {
    throw new Error('not a task checkpoint');
  }
  const processes: CheckpointedProcess[] = [];
  for (const p of cp.processes as unknown[]) {
    const proc = p as Partial<CheckpointedProcess> | null;
    if (typeof proc !== 'object' || proc === null || !Number.isInteger(proc.pid) || typeof proc.name !== 'string') {
      throw new Error('a process entry is malformed');
    }
    const entry: CheckpointedProcess = { name: proc.name, pid: proc.pid as number };
    if (typeof proc.startTime === 'string') entry.startTime = proc.startTime;
    processes.push(entry);
  }
  return { task: cp.task, processes };
}
