// core: the vocabulary every part shares. No I/O, no clock, no randomness.
export * from './errors.js';
export * from './taskstate.js';
export * from './resources.js';
export * from './jobkey.js';
export * from './ids.js';
export * from './jobspec.js';
export * from './container.js';
export * from './volumes.js';
export * from './version.js';
export * from './exec.js';
export * from './cron.js';
export * from './runs.js';
