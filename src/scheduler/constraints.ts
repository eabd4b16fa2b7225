// Constraints filter agents by their attributes, one small filter per kind, as Kubernetes' Filter
// plugins do: each answers { ok: true } or { ok: false, reason }. Not fitting is an answer, never a
// throw; the reasons are tallied into "why is this pending?".
//
// Constraints are parsed once per distinct set (placement caches them) into objects that carry
// their rejection ready-made, so the filters allocate nothing however many agents they look at.

import type { Attributes } from './types.js';

/** ConstraintResult is a filter's answer: fits, or does not and why ("rack is not r1"). */
export type ConstraintResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** AgentView is what a constraint may look at: an Offer, an AllocatorAgent and the like all are one. */
export interface AgentView {
  readonly agentId: string;
  /** The host name; stands in for a missing "host" attribute. */
  readonly hostname?: string;
  readonly attributes: Attributes;
}

/**
 * Constraint is one parsed entry of a job's constraints. The attribute "host" is special for
 * limits: host limit:N means at most N tasks of the job per agent, whatever its attributes say.
 */
export type Constraint =
  | { readonly kind: 'equals'; readonly attribute: string; readonly value: string; readonly mismatch: ConstraintResult; readonly missing: ConstraintResult }
  | { readonly kind: 'oneOf'; readonly attribute: string; readonly values: readonly string[]; readonly mismatch: ConstraintResult; readonly missing: ConstraintResult }
  | { readonly kind: 'notEqual'; readonly attribute: string; readonly values: readonly string[]; readonly mismatch: ConstraintResult }
  | { readonly kind: 'limit'; readonly attribute: string; readonly limit: number; readonly reached: ConstraintResult; readonly missing: ConstraintResult }
  | { readonly kind: 'invalid'; readonly attribute: string; readonly text: string; readonly rejected: ConstraintResult };

const OK: ConstraintResult = Object.freeze({ ok: true });

function reject(reason: string): ConstraintResult {
  return Object.freeze({ ok: false, reason });
}

/**
 * parseConstraint reads one job-config constraint: "r1" (equals), "a|b" (one of), "!windows" or
 * "!a|b" (none of), "limit:N". The job schema rejects malformed text; should some still arrive (an
 * old snapshot, an external caller), it becomes a constraint no agent passes, with a reason that
 * says so, rather than an exception that would stop the scheduling pass for every job.
 */
export function parseConstraint(attribute: string, text: string): Constraint {
  const missing = reject(`${attribute} attribute missing`);
  if (text.startsWith('limit:')) {
    const limit = Number(text.slice('limit:'.length));
    if (!Number.isInteger(limit) || limit < 1) {
      return { kind: 'invalid', attribute, text, rejected: reject(`${attribute} constraint "${text}" is not valid`) };
    }
    return { kind: 'limit', attribute, limit, reached: reject(`${attribute} ${text} reached`), missing };
  }
  const negated = text.startsWith('!');
  const values = (negated ? text.slice(1) : text).split('|').map((v) => v.trim());
  if (values.some((v) => v === '')) {
    return { kind: 'invalid', attribute, text, rejected: reject(`${attribute} constraint "${text}" is not valid`) };
  }
  const list = values.join('|');
  if (negated) {
    const mismatch = reject(values.length === 1 ? `${attribute} is ${list}` : `${attribute} is one of ${list}`);
    return { kind: 'notEqual', attribute, values, mismatch };
  }
  if (values.length === 1) {
    return { kind: 'equals', attribute, value: values[0] as string, mismatch: reject(`${attribute} is not ${list}`), missing };
  }
  return { kind: 'oneOf', attribute, values, mismatch: reject(`${attribute} is not one of ${list}`), missing };
}

/** parseConstraints parses a job's constraints in their written order. */
export function parseConstraints(constraints: Readonly<Record<string, string>>): Constraint[] {
  const out: Constraint[] = [];
  for (const [attribute, text] of Object.entries(constraints)) out.push(parseConstraint(attribute, text));
  return out;
}

/**
 * attributeOf is the agent's value of an attribute, or undefined. It reads own properties only: an
 * attribute named "constructor" must not find Object.prototype's.
 */
export function attributeOf(agent: AgentView, attribute: string): string | undefined {
  if (Object.hasOwn(agent.attributes, attribute)) return agent.attributes[attribute];
  return attribute === 'host' ? agent.hostname : undefined;
}

/** limitValueOf is the bucket a limit constraint counts the agent's tasks in: "host" is the agent itself. */
export function limitValueOf(agent: AgentView, attribute: string): string | undefined {
  return attribute === 'host' ? agent.agentId : attributeOf(agent, attribute);
}

/** checkEquals: the agent has the attribute with exactly the value. */
export function checkEquals(c: Extract<Constraint, { kind: 'equals' }>, agent: AgentView): ConstraintResult {
  const v = attributeOf(agent, c.attribute);
  if (v === undefined) return c.missing;
  return v === c.value ? OK : c.mismatch;
}

/** checkOneOf: the agent has the attribute with one of the values. */
export function checkOneOf(c: Extract<Constraint, { kind: 'oneOf' }>, agent: AgentView): ConstraintResult {
  const v = attributeOf(agent, c.attribute);
  if (v === undefined) return c.missing;
  return c.values.includes(v) ? OK : c.mismatch;
}

/** checkNotEqual: the agent's value is none of the values; an agent without the attribute passes. */
export function checkNotEqual(c: Extract<Constraint, { kind: 'notEqual' }>, agent: AgentView): ConstraintResult {
  const v = attributeOf(agent, c.attribute);
  return v !== undefined && c.values.includes(v) ? c.mismatch : OK;
}

/**
 * checkLimit: fewer than N tasks of the job already share the agent's value of the attribute. An
 * agent without the attribute fails, as in Aurora: a spread cannot be promised over an unknown.
 */
export function checkLimit(c: Extract<Constraint, { kind: 'limit' }>, agent: AgentView, job: string, counts: LimitCounts): ConstraintResult {
  const v = limitValueOf(agent, c.attribute);
  if (v === undefined) return c.missing;
  return counts.get(job, c.attribute, v) < c.limit ? OK : c.reached;
}

/** checkConstraint runs the filter of the constraint's kind. */
export function checkConstraint(c: Constraint, agent: AgentView, job: string, counts: LimitCounts): ConstraintResult {
  switch (c.kind) {
    case 'equals':
      return checkEquals(c, agent);
    case 'oneOf':
      return checkOneOf(c, agent);
    case 'notEqual':
      return checkNotEqual(c, agent);
    case 'limit':
      return checkLimit(c, agent, job, counts);
    case 'invalid':
      return c.rejected;
  }
}

/**
 * LimitCounts counts a job's tasks per value of an attribute, for limit constraints. Nested maps
 * rather than joined string keys, so that a lookup in the placement loop builds no string.
 */
export class LimitCounts {
  readonly #byJob = new Map<string, Map<string, Map<string, number>>>();

  get(job: string, attribute: string, value: string): number {
    return this.#byJob.get(job)?.get(attribute)?.get(value) ?? 0;
  }

  add(job: string, attribute: string, value: string): void {
    let byAttribute = this.#byJob.get(job);
    if (byAttribute === undefined) {
      byAttribute = new Map();
      this.#byJob.set(job, byAttribute);
    }
    let byValue = byAttribute.get(attribute);
    if (byValue === undefined) {
      byValue = new Map();
      byAttribute.set(attribute, byValue);
    }
    byValue.set(value, (byValue.get(value) ?? 0) + 1);
  }
}
