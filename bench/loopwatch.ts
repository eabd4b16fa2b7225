// loopwatch: loaded into a daemon a benchmark starts (`node --import …/loopwatch.js`), it writes the
// daemon's event loop, second by second, to the file $MUSTER_BENCH_LOOP_FILE names: one line
// "<ms since the epoch> <longest gap s> <longest block s>" per second. Gap and block are the
// daemons' own measure (src/metrics/eventloop.ts): the gap is how long the loop went without
// turning, the block that gap less the time the process was not on a CPU, so that a host too busy to
// run the daemon shows in the gap and not in the block. One line a second costs nothing to speak of.

import { appendFileSync } from 'node:fs';
import { eventLoopDelay, type LoopSecond } from '../src/metrics/eventloop.js';

const file = process.env['MUSTER_BENCH_LOOP_FILE'];

// The monitor holds its listeners weakly: exported, this one lives as long as the module, the process.
export const onSecond = (s: LoopSecond): void => {
  if (file !== undefined) appendFileSync(file, `${Date.now()} ${s.gap} ${s.block}\n`);
};

if (file !== undefined && file !== '') eventLoopDelay().onSecond(onSecond);
