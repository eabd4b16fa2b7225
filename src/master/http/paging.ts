// Paging and filtering of the master's lists (jobs, tasks, agents): ?limit=&offset= and the filters
// the web UI needs to show a cell of 10,000 jobs and 1,000,000 tasks one page at a time (and the CLI
// may use as well). A list pages only when limit or offset is given; without either it answers as
// before, whole, so that older clients read what they always read.

import { MusterError } from '../../core/index.js';

/** MAX_PAGE_LIMIT bounds one page: a person reads a few hundred rows, a script can page on. */
export const MAX_PAGE_LIMIT = 1000;
/** DEFAULT_PAGE_LIMIT is the page size when only offset is given. */
export const DEFAULT_PAGE_LIMIT = 100;

/** Page is a window of a sorted list. */
export interface Page {
  offset: number;
  limit: number;
}

/** PageInfo is what a paged answer says besides its items, so that a client can draw its pager. */
export interface PageInfo {
  /** How many items match the filters, over every page. */
  total: number;
  offset: number;
  limit: number;
}

/** parsePage reads ?limit= and ?offset=; undefined when neither is given (the whole list). */
export function parsePage(url: URL): Page | undefined {
  const limit = url.searchParams.get('limit');
  const offset = url.searchParams.get('offset');
  if (limit === null && offset === null) return undefined;
  return {
    limit: limit === null ? DEFAULT_PAGE_LIMIT : wholeParam('limit', limit, 1, MAX_PAGE_LIMIT),
    offset: offset === null ? 0 : wholeParam('offset', offset, 0, Number.MAX_SAFE_INTEGER),
  };
}

/** pageOf cuts the page out of a list already filtered and sorted. */
export function pageOf<T>(items: readonly T[], page: Page | undefined): T[] {
  if (page === undefined) return [...items];
  return items.slice(page.offset, page.offset + page.limit);
}

/** pageInfo is the answer's paging fields, or none when the list was not paged. */
export function pageInfo(total: number, page: Page | undefined): PageInfo | Record<string, never> {
  return page === undefined ? {} : { total, offset: page.offset, limit: page.limit };
}

/** textParam is a filter's value, bounded; undefined when not given or empty. */
export function textParam(url: URL, name: string, maxLength = 256): string | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  if (v.length > maxLength) throw new MusterError('INVALID_ARGUMENT', `?${name}= is longer than ${maxLength} characters`, { details: { field: name } });
  return v;
}

/** listParam is a comma-separated filter ("TASK_RUNNING,TASK_FAILED") as a set; undefined when not given. */
export function listParam(url: URL, name: string): Set<string> | undefined {
  const v = textParam(url, name, 4096);
  if (v === undefined) return undefined;
  return new Set(v.split(',').map((s) => s.trim()).filter((s) => s !== ''));
}

function wholeParam(name: string, text: string, min: number, max: number): number {
  if (!/^\d{1,16}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new MusterError('INVALID_ARGUMENT', `?${name}= must be a whole number from ${min} to ${max}, not ${JSON.stringify(text.slice(0, 40))}`, { details: { field: name } });
  }
  return Number(text);
}

/** compareText orders strings by code unit, as the lists are sorted (stable across locales). */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
