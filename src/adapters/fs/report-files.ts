import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { RepoError } from '../../shared/errors.js';

/**
 * A file the daemon wrote under reports/<request>/, read from a checkout; undefined when absent.
 * A symbolic link anywhere on the way is refused: reports/ is repository data, and a link would
 * make the daemon read (and copy into a status it commits) a file from elsewhere.
 */
export async function readReportFile(
  root: string,
  request: string,
  file: string,
): Promise<string | undefined> {
  const parts = ['reports', request, file];
  for (let i = 1; i <= parts.length; i++) {
    const rel = parts.slice(0, i).join('/');
    const st = await lstat(path.join(root, rel)).catch(() => undefined);
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      throw new RepoError(
        `${rel} is a symbolic link; reports/ is written by the daemon only: remove the link and let it write the reports again`,
      );
    }
  }
  return readFile(path.join(root, ...parts), 'utf8');
}
