import { writeFile } from 'node:fs/promises';
import { Metrics } from '../../src/adapters/http/metrics.js';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { reconcileContext } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/shared/log.js';
import { makeDir } from './files.js';
import type { Slapd } from './slapd.js';

/**
 * The daemon's pass context as `reexport daemon` builds it, against `slapd` as target `ldap` and
 * the config repository at `repoUrl`, in a fresh workdir: for tests that run passes with
 * `runPass(ctx)`. `release` frees the workdir lock and removes the folder.
 */
export async function daemonAgainst(opts: {
  slapd: Slapd;
  repoUrl: string;
  allowedAttributes: string[];
  /** REEXPORT_TEST_DEBUG=1 shows the daemon's log. */
  debug?: boolean;
}): Promise<{ ctx: Awaited<ReturnType<typeof reconcileContext>>; release(): Promise<void> }> {
  const passwordEnv = `REEXPORT_TEST_DAEMON_PASSWORD_${opts.slapd.pid}`;
  process.env[passwordEnv] = opts.slapd.password;
  const work = await makeDir({});
  await writeFile(
    `${work.dir}/daemon.yaml`,
    `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: "${opts.repoUrl}", workdir: ./var }
targets:
  ldap:
    url: ${opts.slapd.url}
    bindDN: "${opts.slapd.bindDN}"
    passwordEnv: ${passwordEnv}
    allowedAttributes: [${opts.allowedAttributes.join(', ')}]
`,
  );
  const ctx = await reconcileContext(
    {
      daemon: await loadDaemonConfig(`${work.dir}/daemon.yaml`),
      log: createLogger(opts.debug || process.env.REEXPORT_TEST_DEBUG ? 'debug' : 'silent'),
    },
    new Metrics(),
    new AbortController().signal,
  );
  return {
    ctx,
    async release() {
      await ctx.release();
      await work.cleanup();
    },
  };
}
