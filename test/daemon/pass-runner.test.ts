import { describe, expect, it } from 'vitest';
import { PassRunner } from '../../src/daemon/pass-runner.js';

/** A pass that waits until the test releases it, counting how many run at once. */
function gatedPasses(failOn: number[] = []) {
  const state = { started: 0, finished: 0, concurrent: 0, maxConcurrent: 0 };
  const releases: Array<() => void> = [];
  const pass = async () => {
    const n = ++state.started;
    state.concurrent++;
    state.maxConcurrent = Math.max(state.maxConcurrent, state.concurrent);
    await new Promise<void>((resolve) => releases.push(resolve));
    state.concurrent--;
    state.finished++;
    if (failOn.includes(n)) throw new Error(`pass ${n} failed`);
  };
  const releaseNext = async () => {
    while (releases.length === 0) await new Promise((r) => setImmediate(r));
    releases.shift()!();
  };
  return { state, pass, releaseNext };
}

describe('PassRunner', () => {
  it('coalesces triggers during a pass into exactly one more pass, never two at once', async () => {
    const g = gatedPasses();
    const runner = new PassRunner(g.pass);
    const first = runner.trigger();
    void runner.trigger();
    void runner.trigger();
    void runner.trigger();
    await g.releaseNext();
    await g.releaseNext();
    await first;
    expect(g.state.started).toBe(2);
    expect(g.state.maxConcurrent).toBe(1);
    // Idle again: the next trigger starts a new pass.
    const again = runner.trigger();
    await g.releaseNext();
    await again;
    expect(g.state.started).toBe(3);
  });

  it('keeps running after a pass throws, and reports the error', async () => {
    const g = gatedPasses([1]);
    const errors: unknown[] = [];
    const runner = new PassRunner(g.pass, (err) => errors.push(err));
    const first = runner.trigger();
    void runner.trigger(); // asked during the failing pass: still runs after it
    await g.releaseNext();
    await g.releaseNext();
    await expect(first).resolves.toBeUndefined();
    expect(g.state.finished).toBe(2);
    expect(errors.map((e) => (e as Error).message)).toEqual(['pass 1 failed']);
    const next = runner.trigger();
    await g.releaseNext();
    await next;
    expect(g.state.started).toBe(3);
  });

  it('idle() waits for the pass in flight and drops the pending extra one', async () => {
    const g = gatedPasses();
    const runner = new PassRunner(g.pass);
    void runner.trigger();
    void runner.trigger();
    const idle = runner.idle();
    await g.releaseNext();
    await idle;
    expect(g.state.started).toBe(1);
  });
});
