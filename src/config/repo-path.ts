import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';

export type RepoPathResult = { abs: string; error?: undefined } | { abs?: undefined; error: string };

/**
 * Resolves a path written in the config repository, refusing anything that could read outside it:
 * absolute paths, `..`, symbolic links, and the repository's own .git and reports/ folders.
 */
export async function resolveRepoPath(root: string, rel: string): Promise<RepoPathResult> {
  if (rel.includes('\0')) return { error: 'the path contains a NUL character' };
  if (path.isAbsolute(rel) || /^[A-Za-z]:[\\/]/.test(rel) || rel.startsWith('\\')) {
    return {
      error: `\`${rel}\` is absolute; give a path relative to the repository root, e.g. data/employees.csv`,
    };
  }
  if (rel.includes('\\')) return { error: `\`${rel}\` contains a backslash; use / between folders` };
  const segments = rel.split('/');
  if (segments.includes('..'))
    return {
      error: `\`${rel}\` leaves the repository through '..'; source files must be inside the repository`,
    };
  const first = segments.find((s) => s !== '.' && s !== '');
  if (first === '.git' || first === 'reports')
    return { error: `\`${rel}\` is under ${first}/, which is not for source data; put data under data/` };
  const realRoot = await realpath(root);
  // Any symbolic link on the way is refused, not only one leading out: a link into .git/ or
  // reports/ stays inside the checkout and would still hand its content to a pull request.
  let abs = realRoot;
  for (const segment of segments.filter((s) => s !== '.' && s !== '')) {
    abs = path.join(abs, segment);
    let st;
    try {
      st = await lstat(abs);
    } catch {
      return { error: `\`${rel}\` does not exist in the repository; add the file or fix the path` };
    }
    if (st.isSymbolicLink())
      return {
        error: `\`${rel}\` goes through a symbolic link (${path.relative(realRoot, abs)}); source files must be regular files in the repository`,
      };
  }
  const st = await lstat(abs);
  if (!st.isFile()) return { error: `\`${rel}\` is not a regular file` };
  return { abs };
}
