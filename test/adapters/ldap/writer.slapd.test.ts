import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadDaemonConfig } from '../../../src/config/daemon-config.js';
import { openLdapWriters, WRITES_PER_CONNECTION } from '../../../src/adapters/ldap/writer.js';
import { makeDir } from '../../harness/files.js';
import { peopleLdif } from '../../harness/people-fixtures.js';
import { describeWithSlapd } from '../../harness/require.js';
import { type Slapd, startSlapd } from '../../harness/slapd.js';
import { auditedModifies } from '../../harness/slapd-audit.js';

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
