import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadDaemonConfig } from '../../../src/config/daemon-config.js';
import { openLdapWriters, WRITES_PER_CONNECTION } from '../../../src/adapters/ldap/writer.js';
import { type EntryWriter, WriteFailure } from '../../../src/execute/executor.js';
import { makeDir } from '../../harness/files.js';
import { peopleLdif } from '../../harness/people-fixtures.js';
import { describeWithSlapd } from '../../harness/require.js';
import { type Slapd, startSlapd } from '../../harness/slapd.js';
import { auditedModifies } from '../../harness/slapd-audit.js';
import { startTcpProxy, type TcpProxy } from '../../harness/tcp-proxy.js';

const USERS = 40;
const dnOf = (i: number) => `uid=u${i},ou=people,dc=kommune,dc=test`;

describeWithSlapd('writers against slapd', () => {
  let slapd: Slapd;
  let cleanup: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    // 'stats' logs each operation with its connection: which connection carried which write.
    slapd = await startSlapd({ ldif: peopleLdif(USERS), debugLevel: 'stats', outputLimit: 1_000_000 });
  });
  afterAll(async () => {
    await cleanup?.();
    await slapd?.stop();
  });

  it('carries `concurrency` writes at once, one connection per eight, and each lands once', async () => {
    let dir: string;
    ({ dir, cleanup } = await makeDir({
      'daemon.yaml': `apiVersion: reexport/v1\nkind: DaemonConfig\ntargets:\n  ldap:\n    url: ${slapd.url}\n    bindDN: "${slapd.bindDN}"\n    passwordEnv: PW\n    allowedAttributes: [mail]\n`,
    }));
    process.env.PW = slapd.password;
    const daemon = await loadDaemonConfig(`${dir}/daemon.yaml`);
    const concurrency = WRITES_PER_CONNECTION + 1;
    const conns = await openLdapWriters(daemon, 'ldap', concurrency);
    try {
      expect(conns.writers).toHaveLength(concurrency);
      expect(conns.connections).toBe(2);
      // Every writer at once, four rounds: more writes in flight on a connection than one.
      for (let round = 0; round < 4; round++) {
        await Promise.all(
          conns.writers.map((w, i) =>
            w.modify(dnOf(round * concurrency + i), [
              { op: 'replace', attribute: 'mail', values: [`new${round * concurrency + i}@kommune.no`] },
            ]),
          ),
        );
      }
      const read = await conns.writers[3]!.read(dnOf(3), ['mail']);
      expect(read?.get('mail')).toEqual(['new3@kommune.no']);
    } finally {
      await conns.close();
    }
    const written = auditedModifies(await slapd.audit());
    expect(written.size).toBe(4 * concurrency);
    expect([...written.values()].every((n) => n === 1)).toBe(true);
    // The writes went over exactly two connections, as many as slapd saw bound for them.
    const modifyConns = new Set([...slapd.output().matchAll(/conn=(\d+) op=\d+ MOD dn=/g)].map((m) => m[1]));
    expect(modifyConns.size).toBe(2);
  });
});

describeWithSlapd('writers whose connection the server drops', () => {
  let slapd: Slapd;
  let proxy: TcpProxy;
  let files: Awaited<ReturnType<typeof makeDir>>;
  beforeAll(async () => {
    slapd = await startSlapd({ ldif: peopleLdif(USERS), tls: true });
    proxy = await startTcpProxy('127.0.0.1', Number(new URL(slapd.url).port));
    files = await makeDir({});
    await copyFile(slapd.caFile!, path.join(files.dir, 'ca.pem'));
    process.env.PW = slapd.password;
  });
  afterAll(async () => {
    await proxy?.close();
    await files?.cleanup();
    await slapd?.stop();
  });

  // The operation timeout is long: a write that waited for it instead of noticing the drop would
  // take the whole of it.
  const TIMEOUT_MS = 20_000;
  for (const startTLS of [false, true]) {
    it(`reconnect at once${startTLS ? ' after StartTLS' : ''}: the writes after the drop land`, async () => {
      const file = path.join(files.dir, `daemon-${startTLS}.yaml`);
      const tls = startTLS ? '    tls: { startTLS: true, caFile: ca.pem }\n' : '';
      await writeFile(
        file,
        `apiVersion: reexport/v1\nkind: DaemonConfig\ntargets:\n  ldap:\n    url: ${proxy.url}\n    bindDN: "${slapd.bindDN}"\n    passwordEnv: PW\n    timeoutMs: ${TIMEOUT_MS}\n${tls}    allowedAttributes: [mail]\n`,
      );
      const conns = await openLdapWriters(await loadDaemonConfig(file), 'ldap', 8);
      const base = startTLS ? 20 : 0;
      // As the executor writes: a transient failure (the dropped connection) is tried again.
      const write = async (w: EntryWriter, dn: string, value: string) => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await w.modify(dn, [{ op: 'replace', attribute: 'mail', values: [value] }]);
          } catch (err) {
            if (!(err instanceof WriteFailure && err.transient) || attempt === 5) throw err;
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      };
      const round = (r: number) =>
        Promise.all(conns.writers.map((w, i) => write(w, dnOf(base + r * 8 + i), `r${r}@x`)));
      try {
        await round(0);
        expect(proxy.dropAll()).toBeGreaterThan(0);
        const started = Date.now();
        await round(1);
        expect(Date.now() - started).toBeLessThan(TIMEOUT_MS / 2);
        // Dropped again after the last write (a restart of the server at the end of a run): the
        // connections close without waiting for an answer to an unbind that cannot come.
        expect(proxy.dropAll()).toBeGreaterThan(0);
        await new Promise((r) => setTimeout(r, 200));
        const closing = Date.now();
        await conns.close();
        expect(Date.now() - closing).toBeLessThan(TIMEOUT_MS / 2);
      } finally {
        await conns.close();
      }
      const mails = await slapd.search(`(uid=u${base + 8})`, 'mail');
      expect(mails).toMatch(/^mail: r1@x$/m);
    });
  }
});
