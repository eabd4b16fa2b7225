// masterloop: the master's own job scheduler (the framework "muster" and the allocator's offer
// cycle) on a hollow cell's log, with hollow agent links: every agent connected, every LAUNCH
// delivered, no slack measured. The online benchmark uses it to time the path a real master takes
// (pending scan, DRF order, offers, placement, one commit per pass) beside the hollow driver's.

import { silentLogger } from '../log/index.js';
import { DEFAULT_SCHEDULING_OPTIONS, MusterFramework, OfferBook, OfferCycle, type EventLog, type FrameworkLinks, type SchedulingOptions } from '../master/index.js';

/** MasterLoop is the master's scheduler running on a log; close stops it. */
export interface MasterLoop {
  readonly framework: MusterFramework;
  /** LAUNCH messages the framework sent, as the hollow agents would have received them. */
  readonly launchesSent: () => number;
  close(): void;
}

/** attachMasterLoop starts the master's framework and offer cycle on log, kicked by each append as in the master. */
export function attachMasterLoop(log: EventLog, scheduling: Partial<SchedulingOptions> = {}): MasterLoop {
  let sent = 0;
  const links: FrameworkLinks = {
    send: () => {
      sent++;
      return true;
    },
    launch: () => {
      sent++;
    },
    isOfferable: () => true,
    busyPortsOf: () => undefined,
    slackOf: () => ({ cpusMilli: 0, memMiB: 0 }),
    hasUsage: () => false,
  };
  const options = { ...DEFAULT_SCHEDULING_OPTIONS, ...scheduling };
  const framework = new MusterFramework(log, links, { logger: silentLogger, scheduling: options });
  const cycle = new OfferCycle(log, links, [framework], { masterId: 'hollow', logger: silentLogger, book: new OfferBook(), roleWeights: options.roleWeights });
  const off = log.onAppended(() => cycle.kick());
  return {
    framework,
    launchesSent: () => sent,
    close: () => {
      off();
      cycle.close();
    },
  };
}
