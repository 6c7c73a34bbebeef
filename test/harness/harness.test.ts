/**
 * Smoke test of the harness itself: if this fails, every integration test's failure is suspect.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Client, InvalidCredentialsError, StrongAuthRequiredError } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloneRepo, gitIn, makeRepo, TEST_AUTHOR } from './git.js';
import { describeWithSamba, describeWithSlapd } from './require.js';
import { startSambaAd, type SambaAd } from './samba.js';
import { startSlapd, toLdif, type Slapd } from './slapd.js';

const OU = 'ou=Ansatte,dc=kommune,dc=test';

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

const people = [
  { uid: 'aodegard', cn: 'Åse Ødegård', givenName: 'Åse', sn: 'Ødegård', employeeID: 'ÆØÅ-1001' },
  { uid: 'baero', cn: 'Bjørn Ærø', givenName: 'Bjørn', sn: 'Ærø', employeeID: 'E-1002' },
  { uid: 'pstrom', cn: 'Pål Strøm', givenName: 'Pål', sn: 'Strøm', employeeID: 'E-1003' },
];

describeWithSlapd('slapd harness', () => {
  let slapd: Slapd;

  beforeAll(async () => {
    // Two people through slapadd (raw UTF-8 for one, base64 via toLdif for the other), one through ldapadd.
    const [ase, bjorn, paal] = people.map((p) => ({
      dn: `uid=${p.uid},${OU}`,
      attrs: {
        objectClass: ['inetOrgPerson', 'reexportPerson'],
        ...p,
        employeeNumber: p.employeeID.replace(/\D/g, ''),
      },
    }));
    const raw = `dn: ${OU}\nobjectClass: organizationalUnit\nou: Ansatte\n\ndn: ${ase!.dn}\nobjectClass: inetOrgPerson\nobjectClass: reexportPerson\nuid: aodegard\ncn: Åse Ødegård\ngivenName: Åse\nsn: Ødegård\nemployeeID: ÆØÅ-1001\nemployeeNumber: 1001\n`;
    slapd = await startSlapd({ tls: true, ldif: `${raw}\n${toLdif([bjorn!])}` });
    await slapd.ldapadd(toLdif([paal!]));
  });
  afterAll(() => slapd?.stop());

  async function searchPeople(c: Client) {
    const { searchEntries } = await c.search(OU, {
      scope: 'one',
      filter: '(objectClass=reexportPerson)',
      attributes: ['cn', 'sn', 'givenName', 'employeeID'],
      paged: { pageSize: 2 },
    });
    return searchEntries
      .map(({ cn, sn, givenName, employeeID }) => ({ cn, sn, givenName, employeeID }))
      .sort((a, b) => String(a.cn).localeCompare(String(b.cn)));
  }
  const expected = people
    .map(({ cn, sn, givenName, employeeID }) => ({ cn, sn, givenName, employeeID }))
    .sort((a, b) => a.cn.localeCompare(b.cn));

  it('serves the seeded UTF-8 entries to a rootdn bind over ldap://, paged', async () => {
    const c = new Client({ url: slapd.url });
    try {
      await c.bind(slapd.bindDN, slapd.password);
      expect(await searchPeople(c)).toEqual(expected);
      // employeeID is case-insensitive and indexed, like AD's.
      const { searchEntries } = await c.search(slapd.suffix, {
        filter: '(employeeID=æøå-1001)',
        attributes: ['uid'],
      });
      expect(searchEntries.map((e) => e.uid)).toEqual(['aodegard']);
    } finally {
      await c.unbind();
    }
  });

  it('applies ldapmodify changes', async () => {
    await slapd.ldapmodify(
      `dn: uid=baero,${OU}\nchangetype: modify\nreplace: mail\nmail: bjorn.aero@kommune.test\n`,
    );
    const c = new Client({ url: slapd.url });
    try {
      await c.bind(slapd.bindDN, slapd.password);
      const { searchEntries } = await c.search(`uid=baero,${OU}`, { scope: 'base', attributes: ['mail'] });
      expect(searchEntries[0]?.mail).toBe('bjorn.aero@kommune.test');
      await expect(c.bind(slapd.bindDN, 'wrong')).rejects.toBeInstanceOf(InvalidCredentialsError);
    } finally {
      await c.unbind();
    }
  });

  it('speaks StartTLS and ldaps:// with certificate verification', async () => {
    const ca = await readFile(slapd.caFile!);
    for (const servername of ['localhost', undefined]) {
      const c = new Client({ url: slapd.url });
      try {
        await c.startTLS(servername ? { ca, servername } : { ca });
        await c.bind(slapd.bindDN, slapd.password);
        expect(await searchPeople(c)).toEqual(expected);
      } finally {
        await c.unbind();
      }
    }

    const wrongName = new Client({ url: slapd.url });
    await expect(wrongName.startTLS({ ca, servername: 'wrong.kommune.test' })).rejects.toThrow(
      /altnames|does not match/i,
    );
    await wrongName.unbind().catch(() => {});
    const noCa = new Client({ url: slapd.url });
    await expect(noCa.startTLS({})).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
    await noCa.unbind().catch(() => {});

    const ldaps = new Client({ url: slapd.ldapsUrl!, tlsOptions: { ca } });
    try {
      await ldaps.bind(slapd.bindDN, slapd.password);
      expect(await searchPeople(ldaps)).toEqual(expected);
    } finally {
      await ldaps.unbind();
    }
  });

  it('stops: the process is gone and its folder removed', async () => {
    await slapd.stop();
    expect(processGone(slapd.pid)).toBe(true);
    expect(existsSync(slapd.dir)).toBe(false);
  });
});

describeWithSamba('Samba AD harness', () => {
  let ad: SambaAd;

  beforeAll(async () => {
    ad = await startSambaAd();
    await ad.addUsers([
      {
        cn: 'Åse Ødegård',
        sAMAccountName: 'aodegard',
        employeeID: 'A1001',
        givenName: 'Åse',
        sn: 'Ødegård',
        mail: 'ase@kommune.test',
        proxyAddresses: ['SMTP:ase@kommune.test', 'smtp:aase@kommune.test'],
        password: 'Sommer-2024-Æøå!',
      },
      { cn: 'Bjørn Ærø', sAMAccountName: 'baero', employeeID: 'A1002', givenName: 'Bjørn', sn: 'Ærø' },
    ]);
  });
  afterAll(() => ad?.stop());

  it('binds as Administrator over LDAPS with CA verification and finds users by employeeID', async () => {
    const ca = await readFile(ad.caFile);
    const c = new Client({ url: ad.ldapsUrl, tlsOptions: { ca, servername: ad.servername } });
    try {
      await c.bind(ad.adminDN, ad.adminPassword);
      const { searchEntries } = await c.search(ad.baseDN, {
        filter: '(&(objectClass=user)(employeeID=A1001))',
        attributes: ['cn', 'sAMAccountName', 'proxyAddresses', 'distinguishedName'],
      });
      expect(searchEntries).toHaveLength(1);
      expect(searchEntries[0]).toMatchObject({
        dn: 'CN=Åse Ødegård,OU=Ansatte,DC=kommune,DC=test',
        cn: 'Åse Ødegård',
        sAMAccountName: 'aodegard',
        proxyAddresses: ['SMTP:ase@kommune.test', 'smtp:aase@kommune.test'],
      });
      const second = await c.search(ad.baseDN, { filter: '(employeeID=A1002)', attributes: ['sn'] });
      expect(second.searchEntries.map((e) => e.sn)).toEqual(['Ærø']);
    } finally {
      await c.unbind();
    }
  });

  it('verifies the certificate and refuses plaintext simple binds, like real AD', async () => {
    const ca = await readFile(ad.caFile);
    const wrong = new Client({ url: ad.ldapsUrl, tlsOptions: { ca, servername: 'wrong.kommune.test' } });
    await expect(wrong.bind(ad.adminDN, ad.adminPassword)).rejects.toThrow(/altnames|does not match/i);
    await wrong.unbind().catch(() => {});
    const noCa = new Client({ url: ad.ldapsUrl });
    await expect(noCa.bind(ad.adminDN, ad.adminPassword)).rejects.toThrow(
      /self[- ]signed|unable to (get|verify)/i,
    );
    await noCa.unbind().catch(() => {});
    const plain = new Client({ url: ad.ldapUrl });
    await expect(plain.bind(ad.adminDN, ad.adminPassword)).rejects.toBeInstanceOf(StrongAuthRequiredError);
    await plain.unbind().catch(() => {});
  });

  it('sets passwords so created users can bind', async () => {
    const c = new Client({ url: ad.ldapsUrl, tlsOptions: { ca: await readFile(ad.caFile) } });
    try {
      await c.bind('aodegard@kommune.test', 'Sommer-2024-Æøå!');
    } finally {
      await c.unbind();
    }
  });

  it('stops: the process is gone and its folder removed', async () => {
    await ad.stop();
    expect(processGone(ad.pid)).toBe(true);
    expect(existsSync(ad.dir)).toBe(false);
  });
});

describe('git harness', () => {
  it('makes a repo with a bare remote that clones with the files on main', async () => {
    const repo = await makeRepo({
      'README.md': '# Kommune\n',
      'templates/ad/ansatte.yaml': 'navn: Åse Ødegård\n',
      'bin/blob.bin': Buffer.from([0, 1, 2, 255]),
    });
    const clone = await cloneRepo(repo.bare);
    try {
      expect(await readFile(`${clone.dir}/templates/ad/ansatte.yaml`, 'utf8')).toBe('navn: Åse Ødegård\n');
      expect([...(await readFile(`${clone.dir}/bin/blob.bin`))]).toEqual([0, 1, 2, 255]);
      expect((await gitIn(clone.dir, 'rev-parse', '--abbrev-ref', 'HEAD')).trim()).toBe('main');
      expect((await gitIn(clone.dir, 'log', '-1', '--format=%an <%ae>')).trim()).toBe(
        `${TEST_AUTHOR.name} <${TEST_AUTHOR.email}>`,
      );
      expect((await gitIn(repo.dir, 'status', '--porcelain', '--branch')).trim()).toBe(
        '## main...origin/main',
      );
    } finally {
      await clone.cleanup();
      await repo.cleanup();
    }
    expect(existsSync(repo.dir)).toBe(false);
  });
});
