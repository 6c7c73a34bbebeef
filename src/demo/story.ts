import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadDaemonConfig } from '../config/daemon-config.js';
import { Metrics } from '../adapters/http/metrics.js';
import { reconcileContext, runPass } from '../daemon/daemon.js';
import { createLogger } from '../shared/log.js';
import { startDemoDirectory } from './demo-directory.js';
import { demoEntries } from './demo-seed.js';
import {
  DEMO_BIND_DN,
  DEMO_SUFFIX,
  demoDaemonConfig,
  demoPassword,
  ensureDemoRepository,
  git,
} from './setup.js';

const REQUEST = '2026-11-25-demo-new-mail';

/** `reexport demo`: the whole story in one go, printed as it happens. Leaves nothing behind. */
export async function playStory(out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const root = await mkdtemp(path.join(tmpdir(), 'reexport-demo-'));
  const say = (s: string) => out.write(`${s}\n`);
  const directory = await startDemoDirectory({
    port: 0,
    suffix: DEMO_SUFFIX,
    bindDN: DEMO_BIND_DN,
    password: demoPassword(),
    entries: demoEntries(DEMO_SUFFIX),
  });
  const releases: (() => Promise<void>)[] = [];
  try {
    const bare = await ensureDemoRepository(root);
    await writeFile(
      path.join(root, 'daemon.yaml'),
      demoDaemonConfig({
        repoUrl: bare,
        workdir: path.join(root, 'var'),
        directoryUrl: directory.url,
        httpPort: 0,
        schedule: '0 0 1 1 *',
      }),
    );
    const daemon = await loadDaemonConfig(path.join(root, 'daemon.yaml'));
    const ctx = await reconcileContext(
      { daemon, log: createLogger(process.env.REEXPORT_LOG_LEVEL ?? 'silent') },
      new Metrics(),
      new AbortController().signal,
    );
    // Let go of the workdir (its lock) before the folder is removed below.
    releases.push(() => ctx.release());
    const human = path.join(root, 'kari');
    await git(root, 'clone', '-q', bare, human);

    say('# 1. Kari opens a pull request that re-exports mail and proxyAddresses for everyone\n');
    await git(human, 'checkout', '-q', '-b', 'new-mail');
    const example = await readFile(path.join(human, 'requests', '2026-11-25-new-mail-domain.yaml'), 'utf8');
    await writeFile(
      path.join(human, 'requests', `${REQUEST}.yaml`),
      example.replace('name: 2026-11-25-new-mail-domain', `name: ${REQUEST}`),
    );
    await git(human, 'add', '-A');
    await git(human, 'commit', '-q', '-m', 'Re-export mail after the merger');
    await git(human, 'push', '-q', '-u', 'origin', 'new-mail');
    say(`    requests/${REQUEST}.yaml pushed on branch new-mail\n`);

    say('# 2. The daemon previews it on the branch (reports/…/preview.md)\n');
    await runPass(ctx);
    await git(human, 'pull', '-q', '--rebase');
    say(await readFile(path.join(human, 'reports', REQUEST, 'preview.md'), 'utf8'));

    say('# 3. Reviewed. Kari sets execute: true and merges to main\n');
    const file = path.join(human, 'requests', `${REQUEST}.yaml`);
    await writeFile(file, (await readFile(file, 'utf8')).replace('execute: false', 'execute: true'));
    await git(human, 'commit', '-q', '-am', 'Execute the reviewed re-export');
    await git(human, 'checkout', '-q', 'main');
    await git(human, 'pull', '-q');
    await git(human, 'merge', '-q', '--no-ff', '-m', 'Merge new-mail', 'new-mail');
    await git(human, 'push', '-q', 'origin', 'main');

    say('# 4. The daemon executes exactly the reviewed plan on main (reports/…/result.md)\n');
    await runPass(ctx);
    await git(human, 'pull', '-q');
    say(await readFile(path.join(human, 'reports', REQUEST, 'result.md'), 'utf8'));
    say('# 5. The history of main\n');
    say(await git(human, 'log', '--format=    %h %<(14,trunc)%an %s', '-6'));
    const aase = directory.entries().find((e) => e.attributes.employeeID?.[0] === '1001');
    say(
      `# The directory now: ${aase?.dn}\n    mail: ${aase?.attributes.mail?.join(', ')}\n    proxyAddresses: ${aase?.attributes.proxyAddresses?.join(', ')}\n`,
    );
    say('Run it yourself against the embedded default: npm start');
  } finally {
    for (const release of releases) await release();
    await directory.stop();
    await rm(root, { recursive: true, force: true });
  }
}
