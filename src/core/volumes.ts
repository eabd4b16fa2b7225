// The host directories docker tasks may mount (--docker-volumes), apart from the container schema:
// the CLI reads the flag before any daemon starts, and must not load zod to do so.

import path from 'node:path';

/**
 * volumeProblem says why a volume's host path is not allowed by the list (--docker-volumes: host
 * directories whose contents tasks may mount), or undefined when one allows it.
 */
export function volumeProblem(hostPath: string, allowed: readonly string[]): string | undefined {
  const ok = allowed.some((dir) => hostPath === dir || hostPath.startsWith(dir.endsWith('/') ? dir : `${dir}/`));
  if (ok) return undefined;
  return allowed.length === 0
    ? `host path ${hostPath} cannot be mounted: this cell allows no docker volumes (--docker-volumes)`
    : `host path ${hostPath} is outside the directories this cell lets tasks mount (--docker-volumes ${allowed.join(',')})`;
}

/**
 * parseVolumeList reads --docker-volumes: a comma-separated list of absolute host directories.
 * Throws naming the bad entry.
 */
export function parseVolumeList(text: string | undefined): string[] {
  if (text === undefined || text.trim() === '') return [];
  return text.split(',').map((s) => {
    const given = s.trim();
    // One trailing slash is allowed (/srv/data/ is /srv/data); anything else must be written plainly.
    const dir = given.length > 1 && given.endsWith('/') ? given.slice(0, -1) : given;
    const plain = path.posix.isAbsolute(dir) && !dir.includes('\0') && path.posix.normalize(dir) === dir && (dir === '/' || !dir.endsWith('/'));
    if (!plain) throw new Error(`--docker-volumes: "${given}" must be an absolute directory written plainly, e.g. /srv/data`);
    return dir;
  });
}
