// Ids are made by the leader outside apply() and travel inside events, so that replaying the log
// gives the same state. A task id says what it is at a glance, as Aurora's do.

import type { JobKey } from './jobkey.js';

/** taskId: "web-prod-hello-0-<uuid>"; random is a uuid or any unique suffix from the caller. */
export function makeTaskId(key: JobKey, instance: number, random: string): string {
  return `${key.role}-${key.env}-${key.name}-${instance}-${random}`;
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** isSafeId: usable as a file name and a URL segment (task ids name sandbox directories). */
export function isSafeId(id: string): boolean {
  return SAFE_ID.test(id) && !id.includes('..');
}
