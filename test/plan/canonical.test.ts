import { describe, expect, it } from 'vitest';
import { changeJsonWriter, compareIds, idOrder, sortByIds } from '../../src/plan/canonical.js';

const collator = new Intl.Collator('nb', { numeric: true, sensitivity: 'variant' });
const reference = (a: string, b: string) => collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);

describe('compareIds', () => {
  it('orders IDs as people expect: 2 before 10, Norwegian letters in Norwegian order', () => {
    expect(['10', '2', 'å1', 'z1', 'æ1', '0010', '1'].sort(compareIds)).toEqual([
      '1',
      '2',
      '0010',
      '10',
      'z1',
      'æ1',
      'å1',
    ]);
  });

  it("gives the collator's order for every pair, numbers taking the short way", () => {
    const ids = [
      '0',
      '00',
      '1',
      '01',
      '001',
      '9',
      '10',
      '010',
      '99',
      '100',
      '1000',
      '12345678901234567890',
      '12345678901234567891',
      '2a',
      'a2',
      'A2',
      'ø',
      'å',
      '',
      ' 1',
      '１２',
    ];
    for (const a of ids)
      for (const b of ids)
        expect(Math.sign(compareIds(a, b)), `${a} vs ${b}`).toBe(Math.sign(reference(a, b)));
  });
});

/** A small seeded generator, so a failure is the same on every run. */
function random(seed: number) {
  // mulberry32
  let x = seed >>> 0;
  return (n: number) => {
    x = (x + 0x6d2b79f5) >>> 0;
    let t = Math.imul(x ^ (x >>> 15), 1 | x);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}

describe('idOrder', () => {
  const sorted = (ids: string[]) => Array.from(idOrder(ids), (i) => ids[i]);

  it('orders letters-then-number IDs as compareIds does, case, leading zeros and "aa" included', () => {
    const ids = ['E10', 'e9', 'E009', 'E9', 'e09', 'EX1', 'E-1', 'E1a', 'E1', 'e1', '1', '01', 'Aa1', 'AB1'];
    expect(sorted(ids)).toEqual([...ids].sort(compareIds));
  });

  it('gives the order of a stable sort by compareIds on 3,000 random lists of IDs', () => {
    const next = random(2026);
    // Biased to what could fool the packed order: letters around "aa", case, zeros, long numbers,
    // punctuation, non-ASCII letters and digits, and IDs that are equal.
    const parts = ['a', 'A', 'aa', 'Aa', 'b', 'B', 'z', 'å', 'ø', 'e', 'E', '0', '00', '1', '9', '10'];
    const tails = ['', '', '-', '.', ' ', '_x', 'a', '1', '٣', '12345678901234567'];
    const id = () => {
      let s = '';
      const k = 1 + next(4);
      for (let i = 0; i < k; i++) s += parts[next(parts.length)];
      return s + tails[next(tails.length)];
    };
    for (let run = 0; run < 3000; run++) {
      const n = 1 + next(run % 10 === 0 ? 400 : 12);
      const ids = Array.from({ length: n }, () => (next(5) === 0 ? 'E' + String(next(2000)) : id()));
      expect(sorted(ids), ids.join(' | ')).toEqual([...ids].sort(compareIds));
    }
  });

  it('orders IDs of any printable ASCII, æ, ø and å as compareIds does (names, UUIDs, e-mail addresses)', () => {
    const next = random(11);
    const chars = [
      ...' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~',
      ...['æ', 'ø', 'å', 'Æ', 'Ø', 'Å', 'aa', 'Aa', 'aå', 'åa', 'Åa', '00', 'é', '\t', 'ä'],
    ];
    for (let run = 0; run < 3000; run++) {
      const n = 2 + next(run % 10 === 0 ? 200 : 20);
      const ids = Array.from({ length: n }, () => {
        let s = '';
        for (let k = 1 + next(6); k > 0; k--) s += chars[next(chars.length)];
        return s;
      });
      expect(sorted(ids), JSON.stringify(ids)).toEqual([...ids].sort(compareIds));
    }
  });

  it('orders lists of plain numbers as compareIds does: leading zeros, equal values, long numbers', () => {
    const next = random(53);
    const digits = () => {
      const zeros = '0'.repeat(next(3));
      const len = next(10) === 0 ? 14 + next(4) : 1 + next(4);
      let s = '';
      for (let i = 0; i < len; i++) s += String(next(10));
      return zeros + s;
    };
    for (let run = 0; run < 2000; run++) {
      const n = 1 + next(run % 10 === 0 ? 300 : 12);
      const ids = Array.from({ length: n }, digits);
      expect(sorted(ids), ids.join(' | ')).toEqual([...ids].sort(compareIds));
    }
    expect(sorted(['10', '9', '010', '', '1'])).toEqual(['', '1', '9', '10', '010'].sort(compareIds));
    // The collator takes a run of more than 254 digits as several numbers.
    for (const len of [253, 254, 255, 300]) {
      const ids = [`x${'1'.repeat(len)}`, `x2${'0'.repeat(len - 2)}`, `x${'0'.repeat(len)}9`];
      expect(sorted(ids), String(len)).toEqual([...ids].sort(compareIds));
    }
  });

  it('sorts items stably: two items with one ID keep their order', () => {
    const items = [
      { id: 'E2', n: 1 },
      { id: 'E1', n: 2 },
      { id: 'E2', n: 3 },
      { id: 'ø', n: 4 },
      { id: 'E2', n: 5 },
    ];
    expect(sortByIds(items, (x) => x.id).map((x) => x.n)).toEqual([2, 1, 3, 5, 4]);
  });

  it('keeps every ID when the packed keys reach exactly 2^53 (2^49 with 8 IDs, 2^49 with 2 letter groups)', () => {
    const big = String(2 ** 49);
    for (const ids of [
      ['1', '2', '3', '4', '5', '6', '7', big],
      ['1', big, '2', '3', '4', '5', '6', '7'],
      ['a1', `b${big}`, 'a2', 'a3'],
      Array.from({ length: 8 }, () => `B0${big}`),
      Array.from({ length: 16 }, (_, i) => String(2 ** 48 + i)),
    ])
      expect(sorted(ids), ids.join(' ')).toEqual([...ids].sort(compareIds));
  });

  it('keeps the exact order when numbers are too large to pack with their index', () => {
    const ids = ['E999999999999999', 'E1', 'F3', 'E999999999999998', 'e1', 'G0'];
    expect(sorted(ids)).toEqual([...ids].sort(compareIds));
  });
});

describe('changeJsonWriter', () => {
  it('writes exactly what JSON.stringify writes, for lines and digest items, user after user', () => {
    const awkward = [
      '"quoted"',
      'back\\slash',
      'tab\tnew\nline',
      '\u0000\u001f',
      'Åse Ødegård',
      '\ud800',
      '😀',
      '',
    ];
    const json = changeJsonWriter();
    for (const id of ['1', '1', '2', awkward[0]!, awkward[5]!])
      for (const [i, value] of awkward.entries()) {
        const c = {
          id,
          dn: `cn=${value},dc=x`,
          attribute: i % 2 ? 'mail' : value || 'x',
          before: i % 3 ? [value] : [],
          after: [value, `${value}2`],
        };
        const { dn, attribute, before, after } = c;
        expect(json.line(c)).toBe(JSON.stringify({ id, dn, attribute, before, after }));
        expect(json.item(c)).toBe(JSON.stringify([id, dn, attribute, before, after]));
      }
  });
});
