// log: the master's write path on its real store. A SqliteStore (WAL, synchronous=FULL) in a temp
// dir under an EventLog, fed the events of a busy cell in a steady state: jobs created, their tasks
// launched in one TasksLaunched per pass, TASK_STARTING and TASK_RUNNING updates each with its
// uuid; and once LIVE_JOBS are running, the oldest killed (KillRequested, TASK_KILLED) for each new
// one, so that the state, and so the snapshot, stays the size of a real cell however long the log.
//
// Two ways of batching, because the master uses both:
//   - one submit carrying N events (a scheduling pass, a job create): one decision, one transaction;
//   - N submits of one event each in the same tick (a burst of status updates from agents): N
//     decisions that group commit folds into one transaction.
// Then the log is opened again (replay: read, parse and apply every event), and a snapshot is
// taken and loaded, as the master does at start.

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { validateJobSpec, type JobSpec, type Resources } from '../src/core/index.js';
import { silentLogger } from '../src/log/index.js';
import { EventLog, SqliteStore, serializeState, type Event } from '../src/master/index.js';
import { filesystemOf, printTable } from './report.js';
import { percentile, round } from './stats.js';

type LaunchedTask = Extract<Event, { type: 'TasksLaunched' }>['tasks'][number];

const AGENTS = 200;
const INSTANCES_PER_JOB = 10;
/** 2,000 jobs of 10: a 20,000-task cell once the log has run a while. */
const LIVE_JOBS = 2000;
/** Measured time per phase; enough batches for a stable rate without a long run on a slow disk. */
const PHASE_MS = 2000;
const MIN_BATCHES = 5;
const MAX_EVENTS_PER_PHASE = 150_000;

const TASK_RESOURCES: Resources = { cpusMilli: 100, memMiB: 32, diskMiB: 64, gpus: 0, ports: [] };

/**
 * CellActivity makes the events of a cell at work, in an order apply() accepts: each job is
 * created, its instances launched in one event, then each task reports STARTING and RUNNING;
 * past LIVE_JOBS the oldest job is killed first. Times advance 1 ms per event so that the log is
 * what a master would have written.
 */
class CellActivity {
  private readonly queue: Event[] = [];
  private jobs = 0;
  /** Jobs running, oldest first, with their tasks: the next to be killed. */
  private readonly live: { job: string; taskIds: string[] }[] = [];
  private at = Date.UTC(2025, 0, 1);
  private readonly agentIds: string[] = [];

  constructor(agents: number) {
    for (let i = 0; i < agents; i++) this.agentIds.push(randomUUID());
  }

  registrations(): Event[] {
    return this.agentIds.map((agentId, i) => ({
      type: 'AgentRegistered',
      at: this.at++,
      agent: {
        agentId,
        hostname: `node-${i}.bench`,
        address: `10.0.${i >> 8}.${i & 255}`,
        port: 5051,
        resources: { cpusMilli: 16_000, memMiB: 65_536, diskMiB: 1_000_000, gpus: 0, ports: [{ begin: 31000, end: 32000 }] },
        attributes: { host: `node-${i}.bench`, rack: `r${i % 10}`, os: 'linux' },
        version: '0.1.0',
      },
    }));
  }

  take(n: number): Event[] {
    while (this.queue.length < n) this.nextJob();
    return this.queue.splice(0, n);
  }

  private nextJob(): void {
    if (this.live.length >= LIVE_JOBS) this.killOldest();
    const name = `svc${this.jobs++}`;
    const spec: JobSpec = validateJobSpec({
      job: `bench/prod/${name}`,
      instances: INSTANCES_PER_JOB,
      resources: { cpus: 0.1, mem: '32MiB', disk: '64MiB', ports: ['http'] },
      processes: [{ name: 'server', cmd: 'python3 -m http.server $PORT_HTTP --bind 127.0.0.1' }],
    });
    this.queue.push({ type: 'JobCreated', at: this.at++, spec });
    const tasks: LaunchedTask[] = [];
    for (let i = 0; i < INSTANCES_PER_JOB; i++) {
      const agentId = this.agentIds[(this.jobs * INSTANCES_PER_JOB + i) % this.agentIds.length] as string;
      const port = 31000 + ((this.jobs + i) % 1000);
      tasks.push({
        taskId: `bench-prod-${name}-${i}-${randomUUID()}`,
        job: spec.job,
        instance: i,
        agentId,
        resources: { ...TASK_RESOURCES, ports: [{ begin: port, end: port }] },
        ports: { http: port },
      });
    }
    this.queue.push({ type: 'TasksLaunched', at: this.at++, tasks });
    for (const state of ['TASK_STARTING', 'TASK_RUNNING'] as const) {
      for (const t of tasks) {
        const at = this.at++;
        this.queue.push({ type: 'TaskStatusUpdated', at, status: { taskId: t.taskId, state, uuid: randomUUID(), timestamp: at - 1 } });
      }
    }
    this.live.push({ job: spec.job, taskIds: tasks.map((t) => t.taskId) });
  }

  private killOldest(): void {
    const old = this.live.shift();
    if (old === undefined) return;
    const instances = old.taskIds.map((_, i) => i);
    this.queue.push({ type: 'KillRequested', at: this.at++, job: old.job, instances, restart: false, wholeJob: true, reason: 'REASON_KILLED_BY_USER' });
    for (const taskId of old.taskIds) {
      const at = this.at++;
      const status = { taskId, state: 'TASK_KILLED', reason: 'REASON_TASK_KILLED', message: 'killed by the master', uuid: randomUUID(), timestamp: at - 1 } as const;
      this.queue.push({ type: 'TaskStatusUpdated', at, status });
    }
  }
}

type Mode = 'submit' | 'concurrent';

interface PhaseFigures {
  mode: Mode;
  eventsPerBatch: number;
  events: number;
  batches: number;
  /** Store transactions the EventLog actually made: group commit should make it equal batches. */
  transactions: number;
  seconds: number;
  eventsPerSec: number;
  batchesPerSec: number;
  batchP50Ms: number;
  batchP99Ms: number;
}

/**
 * phase appends batches until PHASE_MS of measured time. Events are made before each batch's clock
 * starts, so the figure is the log's cost (decide, apply, serialise, fsync), not the generator's.
 */
async function phase(log: EventLog, activity: CellActivity, mode: Mode, size: number): Promise<PhaseFigures> {
  const latencies: number[] = [];
  let measured = 0;
  let events = 0;
  const before = { ...log.stats };
  while ((measured < PHASE_MS || latencies.length < MIN_BATCHES) && events + size <= MAX_EVENTS_PER_PHASE) {
    const batch = activity.take(size);
    const t0 = performance.now();
    if (mode === 'submit') {
      await log.submit(() => ({ events: batch, result: undefined }));
    } else {
      await Promise.all(batch.map((e) => log.submit(() => ({ events: [e], result: undefined }))));
    }
    const ms = performance.now() - t0;
    latencies.push(ms);
    measured += ms;
    events += size;
  }
  const seconds = measured / 1000;
  return {
    mode,
    eventsPerBatch: size,
    events,
    batches: latencies.length,
    transactions: log.stats.batches - before.batches,
    seconds: round(seconds),
    eventsPerSec: Math.round(events / seconds),
    batchesPerSec: round(latencies.length / seconds, 1),
    batchP50Ms: round(percentile(latencies, 50)),
    batchP99Ms: round(percentile(latencies, 99)),
  };
}

async function fileBytes(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

export async function runLogBench(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'muster-bench-log-'));
  const file = join(dir, 'master.db');
  // Closed in finally whatever happens, so that the temp dir can go.
  const stores: SqliteStore[] = [];
  const openStore = (): SqliteStore => {
    const s = new SqliteStore(file);
    stores.push(s);
    return s;
  };
  try {
    // No snapshot while appending: it would land in one phase's figures at random.
    const options = { snapshotEvery: Number.MAX_SAFE_INTEGER, logger: silentLogger };
    const log = await EventLog.open(openStore(), options);
    const activity = new CellActivity(AGENTS);
    await log.submit(() => ({ events: activity.registrations(), result: undefined }));
    // Fill the cell first, untimed: every phase then appends to a cell of the same size, and the
    // JIT has seen every event type before the clock runs.
    const fill = LIVE_JOBS * (2 + 2 * INSTANCES_PER_JOB);
    for (let n = 0; n < fill; n += 1000) await log.submit(() => ({ events: activity.take(1000), result: undefined }));

    const phases: PhaseFigures[] = [];
    for (const size of [1, 10, 100, 1000]) phases.push(await phase(log, activity, 'submit', size));
    // One concurrent submit is the same as one submit of one event: start at 10.
    for (const size of [10, 100, 1000]) phases.push(await phase(log, activity, 'concurrent', size));
    await log.flushed();
    const totalEvents = log.lastIndex;
    const dbBytes = (await fileBytes(file)) + (await fileBytes(`${file}-wal`));
    const liveTasks = log.state.tasks.size;
    printTable(
      `append (SqliteStore, WAL, synchronous=FULL, on ${filesystemOf(dir)}); "concurrent" is N submits of 1 event in one tick`,
      ['mode', 'events/batch', 'events', 'batches', 'txns', 'events/s', 'batches/s', 'p50 ms', 'p99 ms'],
      phases.map((p) => [p.mode, p.eventsPerBatch, p.events, p.batches, p.transactions, p.eventsPerSec, p.batchesPerSec, p.batchP50Ms, p.batchP99Ms]),
    );

    // Replay: what a master restarting after a crash does when there is no snapshot yet.
    const reader = openStore();
    let t0 = performance.now();
    const loaded = await reader.load();
    const loadMs = performance.now() - t0;
    t0 = performance.now();
    const replayed = await EventLog.open(reader, options);
    const openMs = performance.now() - t0;

    t0 = performance.now();
    const snapshot = serializeState(replayed.state);
    const serializeMs = performance.now() - t0;
    t0 = performance.now();
    // saveSnapshot also deletes the events it covers: that is part of the cost of taking one.
    await reader.saveSnapshot(replayed.lastIndex, snapshot);
    const saveMs = performance.now() - t0;
    t0 = performance.now();
    const fromSnapshot = await EventLog.open(openStore(), options);
    const openFromSnapshotMs = performance.now() - t0;

    const replay = {
      events: loaded.events.length,
      loadMs: round(loadMs, 1),
      openMs: round(openMs, 1),
      eventsPerSec: Math.round(loaded.events.length / (openMs / 1000)),
      tasksInState: replayed.state.tasks.size,
    };
    const snap = {
      bytes: Buffer.byteLength(snapshot),
      tasks: fromSnapshot.state.tasks.size,
      serializeMs: round(serializeMs, 1),
      saveMs: round(saveMs, 1),
      openFromSnapshotMs: round(openFromSnapshotMs, 1),
    };
    printTable(
      `replay and snapshot (${totalEvents.toLocaleString('en-US')} events, ${liveTasks.toLocaleString('en-US')} tasks, db ${(dbBytes / 1048576).toFixed(1)} MiB)`,
      ['step', 'ms', 'events/s', 'MiB'],
      [
        ['store.load() (read + JSON.parse)', replay.loadMs, Math.round(replay.events / (loadMs / 1000)), undefined],
        ['EventLog.open() replay (load + apply)', replay.openMs, replay.eventsPerSec, undefined],
        ['serializeState()', snap.serializeMs, undefined, round(snap.bytes / 1048576, 1)],
        ['store.saveSnapshot() (write + truncate log)', snap.saveMs, undefined, undefined],
        ['EventLog.open() from the snapshot', snap.openFromSnapshotMs, undefined, undefined],
      ],
    );

    return {
      store: 'sqlite WAL synchronous=FULL',
      filesystem: filesystemOf(dir),
      agents: AGENTS,
      append: phases,
      totalEvents,
      dbBytes,
      replay,
      snapshot: snap,
    };
  } finally {
    for (const s of stores) await s.close();
    await rm(dir, { recursive: true, force: true });
  }
}
