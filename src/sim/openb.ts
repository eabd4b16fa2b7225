// openb: the loader of Alibaba's "openb" GPU cluster trace (clusterdata, cluster-trace-gpu-v2023),
// the workload of "Beware of Fragmentation" (Weng et al., USENIX ATC '23). A node list names
// machines (cpu, memory, GPUs and their model), a pod list names what arrived (cpu, memory, whole
// GPUs or a share of one, the GPU models it accepts). The files are plain CSV with a header; a pod
// list may carry fewer columns (openb_pod_list_multigpu50.csv has only the first five).
//
// Everything a simulation does at random goes through one seeded generator (mulberry32), never
// Math.random: the same seed gives the same shuffle and the same clones, run after run.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MusterError } from '../core/index.js';
import { mulberry32 } from '../scheduler/index.js';

/** OpenbNode is one machine of a node list: sn, cpu_milli, memory_mib, gpu, model. */
export interface OpenbNode {
  readonly sn: string;
  readonly cpuMilli: number;
  readonly memMiB: number;
  readonly gpus: number;
  /** The GPU model ("T4", "V100M32"…); empty for a machine without GPUs. */
  readonly model: string;
}

/**
 * OpenbPod is one pod of a pod list. A pod asks for no GPU (numGpu 0, gpuMilli 0), a share of one
 * GPU (numGpu 1, gpuMilli 1..999), or whole GPUs (numGpu ≥ 1, gpuMilli 1000).
 */
export interface OpenbPod {
  readonly name: string;
  readonly cpuMilli: number;
  readonly memMiB: number;
  readonly numGpu: number;
  /** GPU per device in milli (1000 = a whole GPU). */
  readonly gpuMilli: number;
  /** The GPU models the pod accepts, separated by "|"; empty: any model. */
  readonly gpuSpec: string;
  readonly qos: string;
  readonly podPhase: string;
  /** Seconds from the trace's start; undefined where the column is absent or empty. */
  readonly creationTime?: number;
  readonly deletionTime?: number;
  readonly scheduledTime?: number;
}

/** OPENB_SET is the folder of the openb trace inside the traces folder. */
export const OPENB_SET = 'alibaba-openb';

/** Bounds on what a trace file may hold: the real ones are under 1 MiB and 10,000 rows. */
export const MAX_TRACE_BYTES = 64 * 1024 * 1024;
export const MAX_TRACE_ROWS = 1_000_000;
const MAX_FIELD = 256;
/** No machine of the trace has more than 8 GPUs; 64 leaves room and still bounds the loops. */
export const MAX_GPUS_PER_NODE = 64;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const MODEL = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const LIST_NAME = /^[a-z0-9][a-z0-9_]*$/;

/**
 * packageRoot is the folder holding package.json: this module runs from src/sim/ under tsx and
 * from dist/src/sim/ after a build, and the traces are found relative to the repository either way.
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new MusterError('NOT_FOUND', `no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/**
 * tracesDir is the folder of trace sets: $MUSTER_TRACES when set, else the repository's own
 * `traces/` (see traces/README.md), so that a clone anywhere finds them.
 */
export function tracesDir(env: Readonly<Record<string, string | undefined>> = process.env, root?: string): string {
  const fromEnv = env['MUSTER_TRACES'];
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return resolve(root ?? packageRoot(), 'traces');
}

/** openbDir is the folder holding the openb CSV files. */
export function openbDir(env: Readonly<Record<string, string | undefined>> = process.env, root?: string): string {
  return join(tracesDir(env, root), OPENB_SET);
}

/**
 * listFile names one CSV of the set: "node_list" + "gpu_node" → <dir>/openb_node_list_gpu_node.csv.
 * The list name is a plain word, so no name can lead out of the folder.
 */
function listFile(dir: string, kind: 'node_list' | 'pod_list', list: string): string {
  if (!LIST_NAME.test(list) || list.length > 64) {
    throw new MusterError('INVALID_ARGUMENT', `openb ${kind.replace('_', ' ')} "${list}" is not a list name like "default" or "gpu_node"`);
  }
  const base = resolve(dir);
  const file = join(base, `openb_${kind}_${list}.csv`);
  if (!file.startsWith(base + sep)) throw new MusterError('INVALID_ARGUMENT', `openb list "${list}" leads out of ${base}`);
  return file;
}

function readTrace(file: string): string {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw new MusterError('NOT_FOUND', `cannot read trace ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; set MUSTER_TRACES to the folder holding ${OPENB_SET}/`, { cause: err });
  }
  if (size > MAX_TRACE_BYTES) {
    throw new MusterError('PAYLOAD_TOO_LARGE', `trace ${file} is ${size} bytes, more than the ${MAX_TRACE_BYTES} a trace may have`);
  }
  return readFileSync(file, 'utf8');
}

/** Row reads the fields of one CSV line by column name, naming file, line and field in its errors. */
class Row {
  fields: string[] = [];
  line = 0;

  constructor(
    private readonly file: string,
    private readonly columns: ReadonlyMap<string, number>,
  ) {}

  fail(field: string, text: string, want: string): never {
    throw new MusterError('INVALID_ARGUMENT', `${this.file}:${this.line}: field ${field} is "${text.slice(0, 40)}", ${want}`);
  }

  /** text is the raw field; "" for an optional column the file does not have. */
  text(field: string): string {
    const at = this.columns.get(field);
    return at === undefined ? '' : (this.fields[at] ?? '');
  }

  /** int reads a whole number in [min, max]. */
  int(field: string, min: number, max: number): number {
    const t = this.text(field);
    if (!/^\d{1,15}$/.test(t)) this.fail(field, t, `not a whole number`);
    const v = Number(t);
    if (v < min || v > max) this.fail(field, t, `outside ${min}..${max}`);
    return v;
  }

  /** optionalInt reads a whole number or nothing (an empty field or an absent column). */
  optionalInt(field: string): number | undefined {
    return this.text(field) === '' ? undefined : this.int(field, 0, Number.MAX_SAFE_INTEGER);
  }

  name(field: string, pattern: RegExp, allowEmpty: boolean): string {
    const t = this.text(field);
    if (t === '' && allowEmpty) return t;
    if (t.length > MAX_FIELD || !pattern.test(t)) this.fail(field, t, allowEmpty ? 'not a name or empty' : 'not a name');
    return t;
  }
}

/**
 * parseCsv checks the header against the required columns and calls each(row) per data line.
 * Fields are plain (the trace quotes nothing); a quote or a wrong field count is an error.
 */
function parseCsv(file: string, text: string, required: readonly string[], known: readonly string[], each: (row: Row) => void): void {
  const lines = text.split('\n');
  const header = (lines[0] ?? '').replace(/\r$/, '').split(',');
  const columns = new Map<string, number>();
  header.forEach((h, i) => columns.set(h.trim(), i));
  for (const c of required) {
    if (!columns.has(c)) throw new MusterError('INVALID_ARGUMENT', `${file}:1: the header lacks column ${c} (has ${header.join(',').slice(0, 200)})`);
  }
  for (const c of columns.keys()) {
    if (!known.includes(c)) throw new MusterError('INVALID_ARGUMENT', `${file}:1: unknown column "${c.slice(0, 40)}"`);
  }
  const row = new Row(file, columns);
  let rows = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, '');
    if (line === '') continue;
    row.line = i + 1;
    if (line.includes('"')) throw new MusterError('INVALID_ARGUMENT', `${file}:${i + 1}: quoted fields are not supported`);
    row.fields = line.split(',');
    if (row.fields.length !== header.length) {
      throw new MusterError('INVALID_ARGUMENT', `${file}:${i + 1}: ${row.fields.length} fields, the header has ${header.length}`);
    }
    if (++rows > MAX_TRACE_ROWS) throw new MusterError('PAYLOAD_TOO_LARGE', `${file}: more than ${MAX_TRACE_ROWS} rows`);
    each(row);
  }
}

const NODE_COLUMNS = ['sn', 'cpu_milli', 'memory_mib', 'gpu', 'model'] as const;
const POD_REQUIRED = ['name', 'cpu_milli', 'memory_mib', 'num_gpu', 'gpu_milli'] as const;
const POD_COLUMNS = [...POD_REQUIRED, 'gpu_spec', 'qos', 'pod_phase', 'creation_time', 'deletion_time', 'scheduled_time'] as const;

/** parseOpenbNodes reads a node list's text; file names it in errors. */
export function parseOpenbNodes(text: string, file = 'node list'): OpenbNode[] {
  const out: OpenbNode[] = [];
  parseCsv(file, text, NODE_COLUMNS, NODE_COLUMNS, (r) => {
    const gpus = r.int('gpu', 0, MAX_GPUS_PER_NODE);
    const model = r.name('model', MODEL, true);
    if ((gpus === 0) !== (model === '')) r.fail('model', model, gpus === 0 ? 'but the node has no GPU' : `but the node has ${gpus} GPUs of no model`);
    out.push({
      sn: r.name('sn', NAME, false),
      cpuMilli: r.int('cpu_milli', 0, 1e9),
      memMiB: r.int('memory_mib', 0, 1e12),
      gpus,
      model,
    });
  });
  return out;
}

/** checkGpuSpec reads a gpu_spec: empty, or models separated by "|". */
function checkGpuSpec(r: Row): string {
  const spec = r.text('gpu_spec');
  if (spec === '') return spec;
  if (spec.length > MAX_FIELD || !spec.split('|').every((m) => MODEL.test(m))) r.fail('gpu_spec', spec, 'not GPU models separated by "|"');
  return spec;
}

/** parseOpenbPods reads a pod list's text; file names it in errors. */
export function parseOpenbPods(text: string, file = 'pod list'): OpenbPod[] {
  const out: OpenbPod[] = [];
  parseCsv(file, text, POD_REQUIRED, POD_COLUMNS, (r) => {
    const numGpu = r.int('num_gpu', 0, MAX_GPUS_PER_NODE);
    const gpuMilli = r.int('gpu_milli', 0, 1000);
    if (numGpu === 0 && gpuMilli !== 0) r.fail('gpu_milli', String(gpuMilli), 'but num_gpu is 0');
    if (numGpu === 1 && gpuMilli === 0) r.fail('gpu_milli', '0', 'but num_gpu is 1');
    if (numGpu > 1 && gpuMilli !== 1000) r.fail('gpu_milli', String(gpuMilli), `but a pod of ${numGpu} GPUs takes them whole (1000)`);
    const pod: { -readonly [K in keyof OpenbPod]: OpenbPod[K] } = {
      name: r.name('name', NAME, false),
      cpuMilli: r.int('cpu_milli', 0, 1e9),
      memMiB: r.int('memory_mib', 0, 1e12),
      numGpu,
      gpuMilli,
      gpuSpec: checkGpuSpec(r),
      qos: r.name('qos', NAME, true),
      podPhase: r.name('pod_phase', NAME, true),
    };
    const creation = r.optionalInt('creation_time');
    const deletion = r.optionalInt('deletion_time');
    const scheduled = r.optionalInt('scheduled_time');
    if (creation !== undefined) pod.creationTime = creation;
    if (deletion !== undefined) pod.deletionTime = deletion;
    if (scheduled !== undefined) pod.scheduledTime = scheduled;
    out.push(pod);
  });
  return out;
}

/** loadOpenbNodes reads openb_node_list_<list>.csv ("gpu_node", "all_node") from dir. */
export function loadOpenbNodes(list = 'gpu_node', dir = openbDir()): OpenbNode[] {
  const file = listFile(dir, 'node_list', list);
  return parseOpenbNodes(readTrace(file), file);
}

/** loadOpenbPods reads openb_pod_list_<list>.csv ("default", "cpu050", "gpuspec33"…) from dir. */
export function loadOpenbPods(list = 'default', dir = openbDir()): OpenbPod[] {
  const file = listFile(dir, 'pod_list', list);
  return parseOpenbPods(readTrace(file), file);
}

// ---- seeded randomness ---------------------------------------------------------------------------

/** mulberry32 is the scheduler's seeded generator: the simulator draws from the same one. */
export { mulberry32 };

/** randomIndex draws an index in [0, n) from random. */
export function randomIndex(n: number, random: () => number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

/** shuffle permutes items in place (Fisher–Yates) and returns them. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomIndex(i + 1, random);
    const t = items[i] as T;
    items[i] = items[j] as T;
    items[j] = t;
  }
  return items;
}

// ---- the arrival sequence of the packing experiment --------------------------------------------

export interface ArrivalOptions {
  readonly seed: number;
  /** The cell's GPU capacity in milli. */
  readonly capacityGpuMilli: number;
  /** Arrived GPU stops below ratio × capacity (1.3 in the paper). */
  readonly ratio: number;
}

/** MAX_ARRIVALS bounds a sequence: the experiment's are ~10,000 pods. */
export const MAX_ARRIVALS = 10_000_000;

/** podGpuMilli is the GPU a pod asks for in all, in milli. */
export function podGpuMilli(p: OpenbPod): number {
  return p.numGpu * p.gpuMilli;
}

/**
 * openbArrivals is the order pods arrive in, as indexes into pods: the whole list shuffled, then
 * clones drawn with replacement, until the next pod would take the arrived GPU past ratio ×
 * capacity. A list that holds more than that already (multigpu50 holds 1.8 ×) is cut at the same
 * point, which keeps a random subset, as the paper's harness does by dropping pods at random.
 */
export function openbArrivals(pods: readonly OpenbPod[], options: ArrivalOptions): Int32Array {
  const { seed, capacityGpuMilli, ratio } = options;
  if (pods.length === 0) throw new MusterError('INVALID_ARGUMENT', 'openbArrivals: the pod list is empty');
  if (!(capacityGpuMilli > 0) || !(ratio > 0) || ratio > 100) {
    throw new MusterError('INVALID_ARGUMENT', `openbArrivals: capacity ${capacityGpuMilli} and ratio ${ratio} must be positive (ratio at most 100)`);
  }
  if (!pods.some((p) => podGpuMilli(p) > 0)) throw new MusterError('INVALID_ARGUMENT', 'openbArrivals: no pod of the list asks for a GPU');
  const limit = ratio * capacityGpuMilli;
  const random = mulberry32(seed);
  const order = shuffle(Array.from(pods.keys()), random);
  const out: number[] = [];
  let arrived = 0;
  for (let k = 0; ; k++) {
    const i = k < order.length ? (order[k] as number) : randomIndex(pods.length, random);
    const next = arrived + podGpuMilli(pods[i] as OpenbPod);
    if (next > limit) break;
    if (out.length >= MAX_ARRIVALS) throw new MusterError('INVALID_ARGUMENT', `openbArrivals: more than ${MAX_ARRIVALS} pods before reaching ${ratio} × capacity`);
    arrived = next;
    out.push(i);
  }
  return Int32Array.from(out);
}
