import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runPass } from '../../src/daemon/daemon.js';
import { daemonAgainst } from '../harness/daemon-fixtures.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { PEOPLE_TEMPLATE_WITH_DESCRIPTION, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';
import { describeWithSlapd } from '../harness/require.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';
import { entriesSent } from '../harness/slapd-audit.js';

const USERS = 300;
const request = (name: string, spec: string) =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: ${name} }\nspec: { template: t, ${spec} }\n`;
/** IDs 0…n-1, as a YAML flow list. */
const some = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => String(i)));
/**
 * Branch → its request: five read the whole scope (c only some of its attributes; e and f select
 * more users than are looked up one by one), d names users.
 */
const BRANCHES: Record<string, [string, string]> = {
  'a-all': ['a', 'mappings: all, users: all, maxChanges: 1000'],
  'b-all': ['b', 'mappings: all, users: all, maxChanges: 999'],
  'c-mail': ['c', 'mappings: [mail], users: all, maxChanges: 1000'],
  'd-ids': ['d', 'mappings: all, users: { ids: ["1", "2", "3"] }'],
  'e-where': ['e', `mappings: all, users: { where: { id: ${some(250)} } }, maxChanges: 1000`],
  'f-many': ['f', `mappings: all, users: { ids: ${some(250)} }, maxChanges: 1000`],
};

describeWithSlapd('one read of a scope per pass', () => {
  let slapd: Slapd;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  let daemon: Awaited<ReturnType<typeof daemonAgainst>>;
  const show = (branch: string, file: string) => gitIn(remote.bare, 'show', `${branch}:${file}`);
  const status = async (branch: string) => {
    const [name] = BRANCHES[branch]!;
    return parseYaml(await show(branch, `reports/${name}/status.yaml`)) as {
      state: string;
      directoryReadAt: string;
      counts: { usersToChange: number; attributeChanges: number };
    };
  };

  beforeAll(async () => {
    // syncprov: the watermark is the suffix's contextCSN, one entry (not every entry's modifyTimestamp).
    slapd = await startSlapd({
      ldif: peopleLdif(USERS),
      debugLevel: 'stats',
      outputLimit: 64 * 1024 * 1024,
      syncprov: true,
    });
    remote = await makeRepo({
      'templates/t.yaml': PEOPLE_TEMPLATE_WITH_DESCRIPTION,
      'data/people.csv': peopleCsv(USERS),
    });
    human = await cloneRepo(remote.bare);
    for (const [branch, [name, spec]] of Object.entries(BRANCHES)) {
      await gitIn(human.dir, 'checkout', '-q', '-b', branch, 'main');
      await commitAndPush(human.dir, { [`requests/${name}.yaml`]: request(name, spec) }, `Request ${name}`);
      await gitIn(human.dir, 'push', '-q', '--set-upstream', 'origin', branch);
    }
    daemon = await daemonAgainst({ slapd, repoUrl: remote.bare, allowedAttributes: ['mail', 'description'] });
  });
  afterAll(async () => {
    await daemon?.release();
    await human?.cleanup();
    await remote?.cleanup();
    await slapd?.stop();
  });

  it('previews of one scope on several branches read it once, each with its own plan, and again next pass', async () => {
    let from = slapd.output().length;
    expect((await runPass(daemon.ctx)).ok).toBe(true);
    // a, b, c, e and f need the same scope: read once (and d's three users); not five times.
    expect(entriesSent(slapd.output(), from)).toBeLessThan(USERS * 1.5);
    const a = await status('a-all');
    const b = await status('b-all');
    const c = await status('c-mail');
    const d = await status('d-ids');
    const e = await status('e-where');
    const f = await status('f-many');
    for (const s of [a, b, c, d, e, f]) expect(s.state).toBe('previewed');
    expect(a.counts).toMatchObject({ usersToChange: USERS, attributeChanges: 2 * USERS });
    expect(b.counts).toEqual(a.counts);
    expect(c.counts).toMatchObject({ usersToChange: USERS, attributeChanges: USERS });
    expect(d.counts).toMatchObject({ usersToChange: 3, attributeChanges: 6 });
    expect(e.counts).toMatchObject({ usersToChange: 250, attributeChanges: 500 });
    expect(f.counts).toEqual(e.counts);
    expect(e.directoryReadAt).toBe(a.directoryReadAt);
    expect(f.directoryReadAt).toBe(a.directoryReadAt);
    // Made from one read, they say so: the same read time.
    expect(b.directoryReadAt).toBe(a.directoryReadAt);
    expect(c.directoryReadAt).toBe(a.directoryReadAt);
    expect(await show('c-mail', 'reports/c/preview.md')).not.toMatch(/description/);

    // A hand edit in scope: the next pass reads the scope again (once), and every preview shows it.
    await slapd.ldapmodify(
      'dn: uid=u7,ou=people,dc=kommune,dc=test\nchangetype: modify\nreplace: mail\nmail: hand7@kommune.no\n',
    );
    from = slapd.output().length;
    expect((await runPass(daemon.ctx)).ok).toBe(true);
    const sent = entriesSent(slapd.output(), from);
    expect(sent).toBeGreaterThanOrEqual(USERS);
    expect(sent).toBeLessThan(USERS * 1.5);
    for (const [branch, [name]] of Object.entries(BRANCHES).filter(([b]) => b !== 'd-ids')) {
      expect(await show(branch, `reports/${name}/preview.md`)).toContain('-mail: hand7@kommune.no');
      expect((await status(branch)).directoryReadAt > a.directoryReadAt).toBe(true);
    }
  });
});
