import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/shared/log.js';
import { runCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { freePort } from '../harness/ports.js';
import { describeWithSlapd } from '../harness/require.js';
import { auditedModifies } from '../harness/slapd-audit.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';
import { CSV, daemonConfig, request, seedLdif, SLAPD_TEMPLATE } from '../harness/slapd-fixtures.js';

const WRONG_PASSWORD = 'not-the-Password-9731';
const ALL = '  mappings: all\n  users: all\n  execute: true\n';

describeWithSlapd('exit codes and health tell the truth', () => {
  let slapd: Slapd;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeEach(async () => {
    slapd = await startSlapd({ ldif: seedLdif() });
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await slapd?.stop();
  });

  /** A config repository (bare remote, a human's clone) and a daemon config for it. */
  async function setup(opts: { url?: string; csv?: string | Buffer } = {}) {
    const remote = await makeRepo({
      'templates/ldap-employees.yaml': SLAPD_TEMPLATE,
      'data/ansatte.csv': opts.csv ?? CSV,
    });
    cleanups.push(remote.cleanup);
    const human = await cloneRepo(remote.bare);
    cleanups.push(human.cleanup);
    const work = await makeDir({
      'daemon.yaml': daemonConfig(
        opts.url ?? slapd.url,
        slapd.bindDN,
        // No scheduled pass during a test: the test runs them.
        `repo: { url: "${remote.bare}", workdir: ./var }\nschedule: "0 0 1 1 *"\nhttp: { port: 0, host: 127.0.0.1 }\n`,
      ),
    });
    cleanups.push(work.cleanup);
    const config = `${work.dir}/daemon.yaml`;
    const cli = (args: string[], password = slapd.password, timeoutMs?: number) =>
      runCli([...args, '--config', config], {
        env: { REEXPORT_TEST_LDAP_PASSWORD: password, REEXPORT_LOG_FORMAT: 'json' },
        ...(timeoutMs ? { timeoutMs } : {}),
      });
    /** A pull request that adds requests/<name>.yaml. */
    const propose = async (name: string, spec: string, files: Record<string, string | Buffer> = {}) => {
      await gitIn(human.dir, 'checkout', '-q', 'main');
      await gitIn(human.dir, 'checkout', '-q', '-b', name);
      await commitAndPush(
        human.dir,
        { [`requests/${name}.yaml`]: request(name, spec), ...files },
        `Add ${name}`,
      );
    };
    const merge = async (name: string) => {
      await gitIn(human.dir, 'pull', '-q', '--rebase', 'origin', name);
      await gitIn(human.dir, 'checkout', '-q', 'main');
      await gitIn(human.dir, 'pull', '-q', 'origin', 'main');
      await gitIn(human.dir, 'merge', '-q', '--no-ff', '-m', `Merge ${name}`, name);
      await gitIn(human.dir, 'push', '-q', 'origin', 'main');
    };
    const show = (ref: string, file: string) =>
      gitIn(remote.bare, 'show', `${ref}:${file}`).catch(() => undefined);
    const commits = async () => Number((await gitIn(remote.bare, 'rev-list', '--count', 'main')).trim());
    return { remote, human, config, cli, propose, merge, show, commits };
  }

  it('`once` exits 1 with a wrong bind password, says so, and never logs the password', async () => {
    const s = await setup();
    await s.propose('mail', '  mappings: [mail]\n  users: all\n');
    const run = await s.cli(['once'], WRONG_PASSWORD);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/pass failed: .*invalid credentials/);
    expect(run.stderr).not.toContain(WRONG_PASSWORD);
    expect(run.stderr).not.toContain(slapd.password);
    // Nothing was committed in its name: the pull request shows no preview made without the directory.
    expect(await s.show('mail', 'reports/mail/preview.md')).toBeUndefined();
  });

  it('a daemon whose HTTP port is taken stops at once, names the port, and runs no pass', async () => {
    const s = await setup();
    await s.propose('mail', '  mappings: [mail]\n  users: all\n');
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => busy.close(resolve)));
    const { port } = busy.address() as AddressInfo;
    await writeFile(s.config, (await readFile(s.config, 'utf8')).replace('port: 0', `port: ${port}`));
    // Without its health, metrics and webhook endpoints it must not run on (and execute) unseen.
    const run = await s.cli(['daemon'], slapd.password, 20_000);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `daemon\\.yaml:\\d+:\\d+: http\\.port ${port} on 127\\.0\\.0\\.1 is in use by another process`,
      ),
    );
    expect(await s.show('mail', 'reports/mail/preview.md')).toBeUndefined();
  });

  it('`once` exits 1 when the directory cannot be reached', async () => {
    const closed = await freePort();
    const s = await setup({ url: `ldap://127.0.0.1:${closed}` });
    await s.propose('mail', '  mappings: [mail]\n  users: all\n');
    const run = await s.cli(['once']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(`pass failed: .*cannot reach ldap://127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\)`),
    );
    expect(run.stderr).not.toContain(slapd.password);
  });

  it('a source CSV that does not parse is reported on the pull request; the pass did its job and exits 0', async () => {
    const s = await setup();
    // An unterminated quote: the file cannot be read past line 7.
    await s.propose('mail', '  mappings: [mail]\n  users: all\n  execute: true\n', {
      'data/ansatte.csv': `${CSV}1006,"Ola,Nordmann,Konsulent,1\n`,
    });
    const run = await s.cli(['once']);
    const status = await s.show('mail', 'reports/mail/status.yaml');
    expect(status).toMatch(/state: invalid/);
    expect(status).toMatch(/data\/ansatte\.csv:\d+(:\d+)?: /);
    expect(await s.show('mail', 'reports/mail/preview.md')).toMatch(/data\/ansatte\.csv:\d+/);
    expect(run.code).toBe(0);
    // Merged all the same: main says why it will not execute, and that is the pass's answer too.
    await s.merge('mail');
    const merged = await s.cli(['once']);
    expect(await s.show('main', 'reports/mail/status.yaml')).toMatch(
      /state: invalid[\s\S]*data\/ansatte\.csv:8/,
    );
    expect(merged.code).toBe(0);
    expect(auditedModifies(await slapd.audit()).size).toBe(0);
  });

  it('`once` exits 1 when the results cannot be pushed; the next pass pushes them, nothing written twice', async () => {
    const s = await setup();
    await s.propose('all', ALL);
    expect((await s.cli(['once'])).code).toBe(0);
    await s.merge('all');
    // The forge takes the claim but rejects the results (a protected branch, a full disk, an outage).
    const hook = path.join(s.remote.bare, 'hooks', 'pre-receive');
    await writeFile(
      hook,
      `#!/bin/sh\nwhile read old new ref; do\n  if git log -1 --format=%s "$new" | grep -Eq '^reexport: (executed|partial) '; then\n    echo "results rejected by the test forge" >&2; exit 1\n  fi\ndone\n`,
    );
    await chmod(hook, 0o755);
    const failed = await s.cli(['once']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/pass failed: .*(rejected|push)/);
    expect(await s.show('main', 'reports/all/status.yaml')).toMatch(/state: executing/);
    const written = auditedModifies(await slapd.audit());
    expect(written.size).toBeGreaterThan(0);

    await rm(hook);
    const next = await s.cli(['once']);
    expect(next.code).toBe(0);
    expect(await s.show('main', 'reports/all/status.yaml')).toMatch(/state: executed/);
    expect(await s.show('main', 'reports/all/result.md')).toMatch(/\| applied \| [1-9]/);
    expect(auditedModifies(await slapd.audit())).toEqual(written);
  });

  it('the daemon answers /readyz 503 and last_pass_success 0 after a failed pass, 200 and 1 after a good one', async () => {
    const s = await setup();
    await s.propose('mail', '  mappings: [mail]\n  users: all\n');
    process.env.REEXPORT_TEST_LDAP_PASSWORD = WRONG_PASSWORD;
    const handle = await startDaemon({
      daemon: await loadDaemonConfig(s.config),
      log: createLogger('silent'),
    });
    cleanups.push(() => handle.stop());
    const base = `http://127.0.0.1:${handle.httpPort}`;
    // startDaemon starts the first pass; a trigger now resolves when it has finished.
    await handle.runner.trigger();
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(/last pass failed/);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^reexport_last_pass_success 0$/m);
    expect(metrics).toMatch(/^reexport_passes_total\{result="error"\} [1-9]/m);

    process.env.REEXPORT_TEST_LDAP_PASSWORD = slapd.password;
    await handle.runner.trigger();
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^reexport_last_pass_success 1$/m);
  });

  it('`apply` exits 1 when the directory refused a change; a second `apply` exits 1 and writes nothing', async () => {
    const s = await setup();
    // The directory refuses a telephoneNumber with a letter outside its syntax (LDAP result 21).
    await s.propose('all', ALL, { 'data/ansatte.csv': CSV.replace('22 33 44 01', '22 33 44 0ø') });
    expect((await s.cli(['once'])).code).toBe(0);
    await s.merge('all');
    const first = await s.cli(['apply', 'all']);
    expect(first.stdout).toMatch(/^executed: .*1 failed/m);
    expect(first.code).toBe(1);
    expect(await s.show('main', 'reports/all/result.md')).toMatch(/LDAP result code 21/);
    const written = auditedModifies(await slapd.audit());
    expect(written.size).toBeGreaterThan(0);
    const commits = await s.commits();

    const second = await s.cli(['apply', 'all']);
    expect(second.code).toBe(1);
    expect(second.stdout).toMatch(/not executed: already executed/);
    expect(auditedModifies(await slapd.audit())).toEqual(written);
    expect(await s.commits()).toBe(commits);
  });

  it('`apply` refuses a request whose execute is false, unless --force', async () => {
    const s = await setup();
    await s.propose('mail', '  mappings: [mail]\n  users: all\n  execute: false\n');
    expect((await s.cli(['once'])).code).toBe(0);
    await s.merge('mail');
    const commits = await s.commits();
    const refused = await s.cli(['apply', 'mail']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/refused: mail says execute: false; .*--force/);
    expect(auditedModifies(await slapd.audit()).size).toBe(0);
    expect(await s.commits()).toBe(commits);

    const forced = await s.cli(['apply', 'mail', '--force']);
    expect(forced.stdout).toMatch(/^executed: /m);
    expect(forced.code).toBe(0);
    expect(await s.show('main', 'reports/mail/status.yaml')).toMatch(/state: executed/);
    expect(auditedModifies(await slapd.audit()).size).toBeGreaterThan(0);
  });
});
