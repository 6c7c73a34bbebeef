import { describe, expect, it } from 'vitest';
import { parseRefresh } from '../../../src/adapters/http/refresh.js';

// POST /refresh itself and `reexport refresh` are tested with the server (server.test.ts).
const at = (ms: number) => new Date(Date.parse('2026-11-30T10:00:00Z') + ms);

describe('a refresh request body', () => {
  const now = at(0);
  const parse = (value: unknown) => parseRefresh(Buffer.from(JSON.stringify(value)), now);
  it('names requests or every one, and says when it was asked', () => {
    expect(parse({ requests: ['mail-all', 'b'], at: now.toISOString() })).toEqual({
      requests: ['mail-all', 'b'],
    });
    expect(parse({ requests: 'all', at: at(-60_000).toISOString() })).toEqual({ requests: 'all' });
  });
  it('is refused when old (a captured request replayed), from the future, or not a list of names', () => {
    expect(parse({ requests: 'all', at: at(-6 * 60_000).toISOString() })).toMatchObject({ error: /minutes/ });
    expect(parse({ requests: 'all', at: at(6 * 60_000).toISOString() })).toMatchObject({ error: /minutes/ });
    expect(parse({ requests: 'all' })).toMatchObject({ error: /`at`/ });
    expect(parse({ requests: [], at: now.toISOString() })).toMatchObject({ error: /requests/ });
    expect(parse({ requests: ['../etc'], at: now.toISOString() })).toMatchObject({ error: /requests/ });
    expect(parseRefresh(Buffer.from('not json'), now)).toMatchObject({ error: /JSON/ });
  });
});
