// codec: RecordIO, the framing of every agent and framework stream. Two messages dominate an
// agent link: LAUNCH (master → agent, a whole TaskInfo) and UPDATE (agent → master, a status with
// its uuid). Each is encoded one record at a time, as the master writes them, and decoded from a
// stream of many: fed as one buffer (a backlog read at once), a record per push (one write, one
// chunk), and 1 KiB chunks (records split across reads, the decoder's slow path).

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { encodeRecord, RecordIODecoder, type AgentCall, type AgentEvent } from '../src/protocol/index.js';
import { printTable } from './report.js';
import { median, round } from './stats.js';

const RECORDS = 20_000;
const RUNS = 5;

function launch(i: number): AgentEvent {
  return {
    type: 'LAUNCH',
    launch: {
      task: {
        taskId: `web-prod-hello-${i % 3}-${randomUUID()}`,
        job: 'web/prod/hello',
        instance: i % 3,
        kind: 'service',
        role: 'web',
        resources: { cpus: 0.1, mem: 32, disk: 64, gpus: 0, ports: `[${31000 + (i % 1000)}-${31000 + (i % 1000)}]` },
        ports: { http: 31000 + (i % 1000) },
        processes: [{ name: 'server', cmd: 'python3 -m http.server $PORT_HTTP --bind 127.0.0.1' }],
        env: { GREETING: 'hello', LOG_LEVEL: 'info' },
        killGraceSecs: 5,
      },
    },
  };
}

function update(i: number): AgentCall {
  return {
    type: 'UPDATE',
    agentId: '27367fd3-abc2-4410-a7d6-21e25efb2b0c',
    update: {
      status: {
        taskId: `web-prod-hello-${i % 3}-${randomUUID()}`,
        state: i % 2 === 0 ? 'TASK_STARTING' : 'TASK_RUNNING',
        uuid: randomUUID(),
        timestamp: Date.UTC(2025, 0, 1) + i,
        healthy: true,
      },
    },
  };
}

interface Row {
  message: string;
  op: string;
  recordBytes: number;
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  p50Ms: number;
}

/** timeRuns runs fn RUNS times after one warm-up (JIT) and returns the median wall time in ms. */
function timeRuns(fn: () => void): number {
  fn();
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

function row(message: string, op: string, stream: Buffer, ms: number): Row {
  return {
    message,
    op,
    recordBytes: Math.round(stream.length / RECORDS),
    records: RECORDS,
    recordsPerSec: Math.round(RECORDS / (ms / 1000)),
    // MB of RecordIO bytes (10^6), the usual unit of a throughput.
    mbPerSec: round(stream.length / 1e6 / (ms / 1000), 1),
    p50Ms: round(ms, 2),
  };
}

function decodeAll(chunks: readonly Buffer[]): void {
  const decoder = new RecordIODecoder();
  let n = 0;
  for (const c of chunks) n += decoder.push(c).length;
  // A decoder that lost records would make every figure a lie; this is a check of the
  // benchmark itself, not a judgement of speed.
  if (n !== RECORDS || decoder.pending) throw new Error(`decoded ${n} of ${RECORDS} records`);
}

function split(stream: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < stream.length; o += size) out.push(stream.subarray(o, o + size));
  return out;
}

export function runCodecBench(): Promise<Record<string, unknown>> {
  const rows: Row[] = [];
  for (const [message, make] of [
    ['LAUNCH', launch],
    ['UPDATE', update],
  ] as const) {
    const values: unknown[] = [];
    for (let i = 0; i < RECORDS; i++) values.push(make(i));
    let records: Buffer[] = [];
    const encodeMs = timeRuns(() => {
      records = values.map((v) => encodeRecord(v));
    });
    const stream = Buffer.concat(records);
    rows.push(row(message, 'encode', stream, encodeMs));
    rows.push(row(message, 'decode whole stream', stream, timeRuns(() => decodeAll([stream]))));
    rows.push(row(message, 'decode record per push', stream, timeRuns(() => decodeAll(records))));
    const kib = split(stream, 1024);
    rows.push(row(message, 'decode 1 KiB chunks', stream, timeRuns(() => decodeAll(kib))));
  }
  printTable(
    `RecordIO, ${RECORDS.toLocaleString('en-US')} records per run, median of ${RUNS} runs`,
    ['message', 'operation', 'bytes/record', 'records/s', 'MB/s', 'ms/run'],
    rows.map((r) => [r.message, r.op, r.recordBytes, r.recordsPerSec, r.mbPerSec, r.p50Ms]),
  );
  return Promise.resolve({ recordsPerRun: RECORDS, runs: RUNS, results: rows });
}
