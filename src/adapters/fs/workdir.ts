import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../../shared/errors.js';

/**
 * The daemon's identity: made once per workdir and kept, so a restarted daemon recognises its own
 * claims (and its journal, which lives beside it) while another workdir is another daemon.
 */
export async function daemonIdentity(workdir: string): Promise<string> {
  const file = path.join(workdir, 'daemon-id');
  let id = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (!id) {
    await mkdir(workdir, { recursive: true });
    id = `${hostname()}-${randomBytes(4).toString('hex')}`;
    await writeFile(file, `${id}\n`, { flag: 'wx' }).catch(async () => {
      id = (await readFile(file, 'utf8')).trim();
    });
  }
  return `${id}/${process.pid}`;
}

/**
 * One process per workdir: two daemons on one clone and journal would race on both. The lock is
 * a file holding the owner's pid; a lock whose process is gone is taken over.
 */
export async function lockWorkdir(workdir: string): Promise<{ release(): Promise<void> }> {
  await mkdir(workdir, { recursive: true });
  const file = path.join(workdir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return { release: () => rm(file, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (owner > 0 && owner !== process.pid && alive(owner)) {
        throw new UsageError(
          `the workdir ${workdir} is in use by process ${owner}; give each daemon its own repo.workdir`,
        );
      }
      await rm(file, { force: true });
    }
  }
  throw new UsageError(`cannot lock the workdir ${workdir}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
