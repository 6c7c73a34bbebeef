import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDaemonConfig } from '../config/daemon-config.js';
import { startDaemon } from '../daemon/daemon.js';
import { createLogger } from '../shared/log.js';
import { startDemoDirectory } from './demo-directory.js';
import { demoEntries } from './demo-seed.js';
import {
  DEMO_BIND_DN,
  DEMO_SUFFIX,
  demoDaemonConfig,
  demoPassword,
  ensureDemoRepository,
  exists,
} from './setup.js';

/** Where `npm start` keeps its repository, clone, journal and directory contents (ignored by Git). */
export const DEFAULT_STATE_DIR = fileURLToPath(new URL('../../.reexport/', import.meta.url));

export interface Embedded {
  repoUrl: string;
  directoryUrl: string;
  httpPort: number;
  stop(): Promise<void>;
}

/**
 * The embedded default: an in-process directory seeded from config-example/, a local bare
 * repository made from config-example/, and the real daemon between them. A second start reuses
 * the repository, the daemon's clone and journal, and the directory's contents.
 */
export async function startEmbedded(
  opts: { stateDir?: string; httpPort?: number; schedule?: string; quiet?: boolean } = {},
): Promise<Embedded> {
  const stateDir = path.resolve(opts.stateDir ?? DEFAULT_STATE_DIR);
  await mkdir(stateDir, { recursive: true });
  const repoUrl = await ensureDemoRepository(stateDir);
  const savedEntries = path.join(stateDir, 'directory.json');
  const entries = (await exists(savedEntries))
    ? (JSON.parse(await readFile(savedEntries, 'utf8')) as ReturnType<typeof demoEntries>)
    : demoEntries(DEMO_SUFFIX);
  const password = demoPassword();
  const directory = await startDemoDirectory({
    port: 0,
    suffix: DEMO_SUFFIX,
    bindDN: DEMO_BIND_DN,
    password,
    entries,
  });
  const configPath = path.join(stateDir, 'daemon.yaml');
  await writeFile(
    configPath,
    demoDaemonConfig({
      repoUrl,
      workdir: path.join(stateDir, 'var'),
      directoryUrl: directory.url,
      httpPort: opts.httpPort ?? 0,
      schedule: opts.schedule ?? '*/10 * * * * *',
    }),
  );
  const daemon = await loadDaemonConfig(configPath);
  const log = createLogger(opts.quiet ? 'silent' : daemon.config.log.level);
  const handle = await startDaemon({ daemon, log });
  return {
    repoUrl,
    directoryUrl: directory.url,
    httpPort: handle.httpPort!,
    async stop() {
      await handle.stop();
      await writeFile(savedEntries, JSON.stringify(directory.entries(), null, 1));
      await directory.stop();
    },
  };
}

export function instructions(e: Embedded): string {
  const clone = '/tmp/iam-config';
  return `
reexport is running on the embedded default.

  config repository   ${e.repoUrl}
  directory           ${e.directoryUrl}  (in-process, seeded from config-example/: 12 employees and one account HR does not know)
  status page         http://127.0.0.1:${e.httpPort}/  (the queue, live progress, the last passes)
  health and metrics  http://127.0.0.1:${e.httpPort}/healthz  /readyz  /metrics
  passes              every 10 seconds

The requests already on main get previews on the first pass. Now play a pull request:

  git clone ${e.repoUrl} ${clone} && cd ${clone}
  git checkout -b my-first-request
  sed 's/2026-11-25-new-mail-domain/my-first-request/' requests/2026-11-25-new-mail-domain.yaml > requests/my-first-request.yaml
  git add requests && git commit -m "Re-export mail" && git push -u origin my-first-request

  # within 10 seconds the daemon commits the preview to your branch:
  sleep 12 && git pull && less reports/my-first-request/preview.md

Then "merge" it with execute: true, and the daemon applies exactly the reviewed plan:

  sed -i 's/execute: false/execute: true/' requests/my-first-request.yaml
  git commit -am "Execute" && git checkout main && git merge --no-ff -m "Merge my-first-request" my-first-request
  git push origin main && sleep 12 && git pull && cat reports/my-first-request/result.md

Ctrl-C stops the daemon; npm start again continues where it left off (state in ${path.dirname(e.repoUrl)}).
`;
}
