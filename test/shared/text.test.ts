import { describe, expect, it } from 'vitest';
import { formatCount, plural } from '../../src/shared/text.js';

describe('formatCount', () => {
  it('groups thousands as en-US does, for counts of any size', () => {
    for (const n of [0, 7, 999, 1000, 12345, 100000, 1234567, 9007199254740991, -1234, 1234.5])
      expect(formatCount(n)).toBe(n.toLocaleString('en-US'));
    expect(plural(82102, 'change')).toBe('82,102 changes');
    expect(plural(1, 'entry', 'entries')).toBe('1 entry');
  });
});
