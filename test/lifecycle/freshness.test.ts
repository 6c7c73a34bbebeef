import { describe, expect, it } from 'vitest';
import { decideFreshness, type FreshnessInput } from '../../src/lifecycle/freshness.js';

const digests = { request: 'sha256:r', template: 'sha256:t', source: 'sha256:s' };
const readAt = '2026-11-25T10:00:00.000Z';
const minutesLater = (m: number) => new Date(Date.parse(readAt) + m * 60_000);

const input = (over: Partial<FreshnessInput> = {}): FreshnessInput => ({
  previous: { digests, directoryReadAt: readAt },
  current: { ...digests },
  directoryChanged: false,
  now: minutesLater(5),
  refreshIntervalMinutes: 60,
  ...over,
});

describe('decideFreshness', () => {
  it('keeps a preview when nothing changed within the refresh interval', () => {
    expect(decideFreshness(input())).toEqual({
      recompute: false,
      why: 'fresh',
      message: 'nothing changed since the preview',
    });
    expect(decideFreshness(input({ now: minutesLater(59.9) })).recompute).toBe(false);
  });

  it('recomputes for each changed input, naming it', () => {
    const why = (over: Partial<FreshnessInput>) => decideFreshness(input(over)).why;
    expect(why({ previous: undefined })).toBe('no-preview');
    expect(why({ current: { ...digests, request: 'sha256:r2' } })).toBe('request-changed');
    expect(why({ current: { ...digests, template: 'sha256:t2' } })).toBe('template-changed');
    expect(why({ current: { ...digests, source: 'sha256:s2' } })).toBe('source-changed');
    expect(why({ directoryChanged: true })).toBe('directory-changed');
    expect(why({ onDemand: true })).toBe('on-demand');
  });

  it('recomputes at the refresh interval (deletes and moves leave no watermark trace), and when the clock went back', () => {
    const d = decideFreshness(input({ now: minutesLater(60) }));
    expect(d).toMatchObject({ recompute: true, why: 'refresh-interval' });
    expect(d.message).toBe('the directory was read 60 minutes ago (refresh every 60)');
    expect(decideFreshness(input({ now: minutesLater(20), refreshIntervalMinutes: 15 })).why).toBe(
      'refresh-interval',
    );
    expect(decideFreshness(input({ now: minutesLater(-10) })).why).toBe('refresh-interval');
  });

  it('recomputes when the directory cannot answer or the preview has no read time', () => {
    expect(decideFreshness(input({ directoryChanged: undefined })).why).toBe('directory-unknown');
    expect(decideFreshness(input({ previous: { digests } })).why).toBe('directory-unknown');
  });

  it('an input change wins over a fresh directory; on demand wins over everything', () => {
    expect(
      decideFreshness(input({ directoryChanged: false, current: { ...digests, source: 'x' } })).why,
    ).toBe('source-changed');
    expect(
      decideFreshness(
        input({ onDemand: true, current: { ...digests, request: 'x' }, directoryChanged: true }),
      ).why,
    ).toBe('on-demand');
  });
});
