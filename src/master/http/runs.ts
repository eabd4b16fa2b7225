// Routes of cron and dependent jobs: /api/v1/jobs/KEY/{runs,suspend,resume,graph}. The decisions
// are commands/runs.ts's; the views, runviews.ts's.

import { findJob } from '../commands/find.js';
import { jobGraph, startRunNow, suspendRuns } from '../commands/runs.js';
import type { EventLog } from '../eventlog.js';
import { runsView } from '../runviews.js';
import { sendJson, type RouteContext, type Router } from './router.js';
import { keyOf } from './updates.js';
import { MusterError } from '../../core/index.js';

export function addRunRoutes(router: Router, log: EventLog): void {
  const jobPath = '/api/v1/jobs/:role/:env/:name';
  const readRole = { permission: { action: 'job:read' as const, role: ({ params }: Omit<RouteContext, 'caller'>) => params['role'] ?? '' } };

  router.add(
    'GET',
    `${jobPath}/runs`,
    ({ res, params }) => {
      const key = keyOf(params);
      const job = findJob(log.state, key);
      if (job.runs === undefined) {
        const hint = job.parent === undefined ? '' : `; it is run ${job.run ?? '?'} of ${job.parent}`;
        throw new MusterError('INVALID_ARGUMENT', `job ${key} is a ${job.spec.kind} job, not a cron or dependent job${hint}`, { details: { field: 'job' } });
      }
      sendJson(res, 200, runsView(log.state, job, log.now()));
    },
    readRole,
  );

  // Run now (`muster cron start`): 201 with the run made.
  router.add('POST', `${jobPath}/runs`, async ({ res, params, caller }) => {
    const key = keyOf(params);
    const started = await log.submit((state, now) => startRunNow(state, now, caller, key), caller.principal);
    sendJson(res, 201, started);
  });

  for (const verb of ['suspend', 'resume'] as const) {
    router.add('POST', `${jobPath}/${verb}`, async ({ res, params, caller }) => {
      const key = keyOf(params);
      const result = await log.submit((state, now) => suspendRuns(state, now, caller, key, verb === 'suspend'), caller.principal);
      sendJson(res, 200, result);
    });
  }

  router.add(
    'GET',
    `${jobPath}/graph`,
    ({ res, params }) => {
      sendJson(res, 200, jobGraph(log.state, keyOf(params)));
    },
    readRole,
  );
}
