// nearestWord finds the word a person most likely meant: `command` → `cmd`, `instanses` →
// `instances`, `batch_size` → `batchSize`. Error messages use it to lead to the fix ("did you
// mean …?"), and only when the match is close enough that the guess is likely right.

/** normal folds the differences that are never the point: case, and _ or - between words. */
function normal(word: string): string {
  return word.toLowerCase().replace(/[_-]/g, '');
}

/**
 * editDistance is the optimal string alignment distance: insertions, deletions, substitutions and
 * transpositions of two neighbours ("lenght") each cost 1.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((d[(i - 1) * cols + j] as number) + 1, (d[i * cols + j - 1] as number) + 1, (d[(i - 1) * cols + j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (d[(i - 2) * cols + j - 2] as number) + 1);
      d[i * cols + j] = best;
    }
  }
  return d[rows * cols - 1] as number;
}

/** allowedEdits grows with the word: one slip in a short word, up to three in a long one. */
function allowedEdits(length: number): number {
  if (length <= 3) return 1;
  if (length <= 6) return 2;
  return 3;
}

/**
 * abbreviates tells whether short is an abbreviation of long as people write them (cmd of command,
 * mem of memory, env of environment): the same first letter, then the rest of short in order.
 */
function abbreviates(short: string, long: string): boolean {
  if (short.length < 3 || long.length > 4 * short.length || short[0] !== long[0]) return false;
  let at = 1;
  for (let i = 1; i < short.length; i++) {
    at = long.indexOf(short[i] as string, at);
    if (at < 0) return false;
    at++;
  }
  return true;
}

/**
 * nearestWord returns the candidate closest to word, or undefined when none is close enough: the
 * fewest edits within a bound that grows with the length, else a candidate that word abbreviates
 * or that abbreviates word. Ties go to the earlier candidate.
 */
export function nearestWord(word: string, candidates: Iterable<string>): string | undefined {
  const w = normal(word);
  let best: string | undefined;
  let bestEdits = Number.POSITIVE_INFINITY;
  let abbreviation: string | undefined;
  for (const candidate of candidates) {
    const c = normal(candidate);
    if (c === w) return candidate;
    const edits = editDistance(w, c);
    if (edits <= allowedEdits(Math.max(w.length, c.length)) && edits < bestEdits) {
      best = candidate;
      bestEdits = edits;
    }
    if (abbreviation === undefined && (w.length < c.length ? abbreviates(w, c) : abbreviates(c, w))) abbreviation = candidate;
  }
  return best ?? abbreviation;
}
