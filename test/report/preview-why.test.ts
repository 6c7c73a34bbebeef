import { describe, expect, it } from 'vitest';
import type { SyncTemplate } from '../../src/config/types.generated.js';
import { Planner, type PlanEntry } from '../../src/plan/build-plan.js';
import { LISTED_MAX } from '../../src/plan/plan-types.js';
import { renderLdif } from '../../src/report/ldif.js';
import { renderPreviewMd } from '../../src/report/preview-md.js';
import { plural } from '../../src/shared/text.js';
import { entry, request, source, template } from '../plan/helpers.js';

const MAIL = {
  target: 'mail',
  source: '{{ givenName | ascii | downcase }}.{{ sn | ascii | downcase }}@kommune.no',
};
const dnOf = (name: string) => `CN=${name},OU=Ansatte,DC=kommune,DC=test`;

function plan(
  rows: Array<Record<string, string>>,
  dir: PlanEntry[],
  mappings: SyncTemplate['spec']['mappings'] = [MAIL],
) {
  const p = new Planner({
    requestName: 'r',
    request: request(),
    templateName: 'ad-employees',
    template: template(mappings),
    source: source(rows),
    safety: { maxChanges: 500, maxClears: 100 },
  });
  p.addEntries(dir);
  return p.finish('2026-11-25T10:00:00.000Z');
}

const AASE = { employeeId: '1001', givenName: 'Åse', sn: 'Ødegård', phone: '' };
const OLA = { employeeId: '1002', givenName: 'Ola', sn: 'Nordmann', phone: '22 33 44 02' };
const aaseEntry = (attrs: Record<string, string | string[]> = {}) =>
  entry(dnOf('Åse Ødegård'), { employeeID: '1001', mail: 'ase@kommune.no', ...attrs });
const olaEntry = () => entry(dnOf('Ola Nordmann'), { employeeID: '1002', mail: 'ola@kommune.no' });

describe('preview.md: why each value', () => {
  it('shows under the diff the expression and the source values that produced the new value', () => {
    const md = renderPreviewMd(plan([AASE], [aaseEntry()]), { maxUsers: 10 });
    expect(md).toContain(
      [
        '+mail: aase.odegaard@kommune.no',
        '```',
        '',
        'Because:',
        '',
        '- **mail** from givenName = `Åse`, sn = `Ødegård` by `{{ givenName | ascii | downcase }}.{{ sn | ascii | downcase }}@kommune.no`',
      ].join('\n'),
    );
  });

  it('says when a value is fixed, a source field is empty, and what merge and onEmpty did', () => {
    const md = renderPreviewMd(
      plan(
        [AASE],
        [aaseEntry({ telephoneNumber: '+47 1', proxyAddresses: ['SMTP:ase@kommune.no', 'x400:a'] })],
        [
          { target: 'company', source: 'Lillevik kommune' },
          { target: 'telephoneNumber', source: '{{ phone }}' },
          { target: 'proxyAddresses', source: ['SMTP:{{ employeeId }}@kommune.no'], policy: 'merge' },
        ],
      ),
      { maxUsers: 10 },
    );
    expect(md).toContain('- **company** is the fixed value `Lillevik kommune`\n');
    expect(md).toContain(
      '- **telephoneNumber** from phone = *(empty)* by `{{ phone }}`; the result is empty, so the attribute is cleared (`onEmpty: clear`)\n',
    );
    expect(md).toContain(
      '- **proxyAddresses** from employeeId = `1001` by `SMTP:{{ employeeId }}@kommune.no`; `policy: merge` keeps the other values, the old primary `SMTP:` stays as a secondary `smtp:`',
    );
  });

  it('shows a source value with a backtick as it is, without breaking the list', () => {
    const md = renderPreviewMd(plan([{ ...AASE, givenName: 'Å`se' }], [aaseEntry()]), {
      maxUsers: 10,
    });
    expect(md).toContain('from givenName = ``Å`se``, sn = `Ødegård` by');
  });

  it('turns a line break that would reach a value into an evaluation error, and never into a list item', () => {
    const md = renderPreviewMd(plan([{ ...AASE, givenName: 'Åse\n- injected' }], [aaseEntry()]), {
      maxUsers: 10,
    });
    expect(md).toMatch(/control character U\+000A/);
    expect(md).not.toMatch(/^- injected/m);
  });
});

describe('preview.md: entries no source record matches', () => {
  it('names them with their match value and DN, and cuts the list at the limit with "and N more"', () => {
    const strays = Array.from({ length: LISTED_MAX + 3 }, (_, i) =>
      entry(dnOf(`Vikar ${i}`), { employeeID: String(9000 + i) }),
    );
    const p = plan([AASE], [aaseEntry(), ...strays.reverse()]);
    const md = renderPreviewMd(p, { maxUsers: 10 });
    expect(md).toContain(`| Entries no source record matches | ${LISTED_MAX + 3} |`);
    expect(md).toContain(
      `**Directory entries in scope that no source record matches; left as they are** (${LISTED_MAX + 3}):\n\n- \`9000\`: \`CN=Vikar 0,OU=Ansatte,DC=kommune,DC=test\`\n- \`9001\`: `,
    );
    expect(md).toContain(`- \`${9000 + LISTED_MAX - 1}\`: \`CN=Vikar ${LISTED_MAX - 1},`);
    expect(md).not.toContain(`\`${9000 + LISTED_MAX}\``);
    expect(md).toContain('- … and 3 more\n');
    // A smaller display limit cuts the kept list further.
    const short = renderPreviewMd(p, { maxUsers: 10, maxListed: 2 });
    expect(short).toContain('- `9001`: `CN=Vikar 1,');
    expect(short).not.toContain('`9002`');
    expect(short).toContain(`- … and ${LISTED_MAX + 1} more\n`);
  });
});

describe('preview.md: plurals', () => {
  it('says "1 user, 1 attribute change" and "2 users, 2 attribute changes"', () => {
    const one = renderPreviewMd(plan([AASE], [aaseEntry()]), { maxUsers: 10 });
    expect(one).toContain('| **To change** | **1 user, 1 attribute change** |');
    const two = plan([AASE, OLA], [aaseEntry(), olaEntry()]);
    expect(renderPreviewMd(two, { maxUsers: 10 })).toContain(
      '| **To change** | **2 users, 2 attribute changes** |',
    );
    expect(renderPreviewMd(two, { maxUsers: 1 })).toContain(
      '*Cut after 1 of 2 users.* The other 1 is in `plan.jsonl`',
    );
  });

  it('plural() agrees for 0, 1, 2 and irregular nouns, with digits grouped', () => {
    expect([0, 1, 2].map((c) => plural(c, 'user'))).toEqual(['0 users', '1 user', '2 users']);
    expect(plural(1, 'entry', 'entries')).toBe('1 entry');
    expect(plural(12000, 'entry', 'entries')).toBe('12,000 entries');
  });
});

describe('changes.ldif: readable DNs', () => {
  it('puts the readable DN in a comment above a base64 DN, and none above a plain one', () => {
    const ldif = renderLdif(plan([AASE, OLA], [aaseEntry(), olaEntry()]).changes);
    expect(ldif).toContain(
      `# 1001\n# dn: CN=Åse Ødegård,OU=Ansatte,DC=kommune,DC=test\ndn:: ${Buffer.from(dnOf('Åse Ødegård')).toString('base64')}\n`,
    );
    expect(ldif).toContain(`# 1002\ndn: ${dnOf('Ola Nordmann')}\n`);
  });

  it('cannot be broken by a line break or control character in a DN or an ID', () => {
    const evil = 'CN=Ø\nchangetype: delete\r\n,OU=Ansatte,DC=kommune,DC=test';
    const ldif = renderLdif(
      [{ id: '1\n2', dn: evil, attribute: 'mail', before: [], after: ['x@kommune.no'] }],
      ['header\x00\nversion: 2'],
    );
    const lines = ldif.split('\n');
    expect(lines).toContain('# dn: CN=Ø\\nchangetype: delete\\r\\n,OU=Ansatte,DC=kommune,DC=test');
    expect(lines).toContain('# 1\\n2');
    expect(lines).toContain('# header\\x00\\nversion: 2');
    // Every line is a comment or a line of the one modify record.
    expect(lines.filter((l) => !l.startsWith('#'))).toEqual([
      'version: 1',
      '',
      `dn:: ${Buffer.from(evil).toString('base64')}`,
      'changetype: modify',
      'add: mail',
      'mail: x@kommune.no',
      '-',
      '',
    ]);
  });

  it('diffs an attribute of thousands of values in one sorted walk: old values -, new +, kept as context', () => {
    const old = Array.from({ length: 3000 }, (_, i) => `smtp:old${String(i).padStart(4, '0')}@kommune.no`);
    const md = renderPreviewMd(
      plan(
        [AASE],
        [aaseEntry({ proxyAddresses: [...old, 'SMTP:1001@kommune.no'] })],
        [{ target: 'proxyAddresses', source: ['SMTP:{{ employeeId }}@kommune.no', 'smtp:new@kommune.no'] }],
      ),
      { maxUsers: 10 },
    );
    const lines = md.split('\n').filter((l) => /^[-+ ]proxyAddresses: /.test(l));
    expect(lines).toEqual([
      ' proxyAddresses: SMTP:1001@kommune.no',
      '+proxyAddresses: smtp:new@kommune.no',
      ...old.map((v) => `-proxyAddresses: ${v}`),
    ]);
  });
});
