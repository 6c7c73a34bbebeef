import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/adapters/http/metrics.js';
import { runPass } from '../../src/daemon/daemon.js';
import { StatusBoard, reportUrl } from '../../src/daemon/status-board.js';
import type { ReconcileContext } from '../../src/workflows/reconcile.js';
import { createLogger } from '../../src/shared/log.js';

const metricValue = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('StatusBoard', () => {
  it('shows live progress with a rate over the last seconds and the time left', () => {
    let now = 1_000_000;
    const board = new StatusBoard({ now: () => now });
    board.passStarted();
    board.executionQueued('a');
    board.executionQueued('b');
    board.executionStarted('a');
    for (let s = 1; s <= 20; s++) {
      now += 1000;
      // 10 entries a second for the first 10 s, then 2 a second.
      board.executionProgress('a', s <= 10 ? s * 10 : 100 + (s - 10) * 2, 400);
    }
    const snap = board.snapshot();
    expect(snap.running).toMatchObject({ request: 'a', done: 120, total: 400 });
    // The window follows the present pace, not the average since the start.
    expect(snap.running!.rate).toBeCloseTo(2, 0);
    expect(snap.running!.etaSeconds).toBe(140);
    expect(snap.queue.map((q) => q.request)).toEqual(['b']);
    expect(board.live().queueLength).toBe(2);
    expect(board.live().claimAgeSeconds).toBe(20);
    board.executionFinished('a', { state: 'executed', counts: { applied: 3 } });
    expect(board.snapshot().running).toBeUndefined();
    expect(board.snapshot().executions[0]).toMatchObject({ request: 'a', state: 'executed' });
    expect(board.live().claimAgeSeconds).toBe(0);
  });

  it('lists requests by branch, drops what a whole pass no longer saw, and keeps the last 20 passes', () => {
    let now = 0;
    const board = new StatusBoard({
      now: () => now,
      reportUrl: 'https://git.example/iam/config/src/branch/{branch}/reports/{request}/preview.md',
    });
    board.passStarted();
    board.requestState({ branch: 'feature/x', request: 'r1', state: 'previewed', commit: 'abc' });
    board.requestState({ branch: 'main', request: 'r2', state: 'executed' });
    board.passFinished({ ok: true, errors: [] });
    expect(board.snapshot().branches).toEqual([
      {
        name: 'feature/x',
        requests: [
          {
            name: 'r1',
            state: 'previewed',
            commit: 'abc',
            updatedAt: new Date(0).toISOString(),
            reportUrl: 'https://git.example/iam/config/src/branch/feature/x/reports/r1/preview.md',
          },
        ],
      },
      expect.objectContaining({ name: 'main' }),
    ]);
    now = 30_000;
    expect(board.live().previewAgeSeconds).toEqual({ r1: 30 });
    // A failed pass keeps what it did not see; a good one drops it.
    board.passStarted();
    board.requestState({ branch: 'main', request: 'r2', state: 'executed' });
    board.problem({ branch: 'feature/x', message: 'push rejected' });
    board.passFinished({ ok: true, errors: [] });
    expect(board.snapshot().passes[0]).toMatchObject({ ok: false, errors: ['feature/x: push rejected'] });
    expect(board.snapshot().branches.map((b) => b.name)).toEqual(['feature/x', 'main']);
    board.passStarted();
    board.requestState({ branch: 'main', request: 'r2', state: 'executed' });
    board.passFinished({ ok: true, errors: [] });
    expect(board.snapshot().branches.map((b) => b.name)).toEqual(['main']);
    for (let i = 0; i < 30; i++) {
      board.passStarted();
      board.passFinished({ ok: true, errors: [] });
    }
    expect(board.snapshot().passes).toHaveLength(20);
  });

  it('encodes each part of a branch in a report link but keeps its slashes', () => {
    expect(reportUrl('https://f/{branch}/{request}?c={commit}', 'a b/c#d', 'r', 'ff00')).toBe(
      'https://f/a%20b/c%23d/r?c=ff00',
    );
  });
});

describe('runPass', () => {
  it('reports a failed pass: last pass success 0, the error on the board, metrics by the documented names', async () => {
    const metrics = new Metrics();
    const board = new StatusBoard();
    metrics.readLive(() => board.live());
    const ctx = {
      repo: {
        fetch: () => Promise.reject(new Error('could not read from remote repository')),
      },
      daemon: {
        path: '/nowhere/daemon.yaml',
        config: {
          apiVersion: 'reexport/v1',
          kind: 'DaemonConfig',
          repo: { branch: 'main', previewBranches: ['*'] },
        },
      },
      log: createLogger('silent'),
      metrics,
      observer: board,
      preview: {},
      apply: {},
    } as unknown as ReconcileContext;
    metrics.lastPassOk.set(1);
    expect((await runPass(ctx)).ok).toBe(false);
    const text = metrics.render();
    expect(metricValue(text, 'reexport_last_pass_success')).toBe(0);
    expect(metricValue(text, 'reexport_passes_total{result="error"}')).toBe(1);
    expect(metricValue(text, 'reexport_errors_total{kind="pass"}')).toBe(1);
    expect(metricValue(text, 'reexport_pass_duration_seconds_count')).toBe(1);
    expect(metricValue(text, 'reexport_last_pass_timestamp_seconds')).toBeGreaterThan(1.7e9);
    expect(metricValue(text, 'reexport_queue_length')).toBe(0);
    for (const name of [
      'reexport_passes_total',
      'reexport_previews_total',
      'reexport_executions_total',
      'reexport_changes_total',
      'reexport_queue_length',
      'reexport_last_pass_success',
      'reexport_last_pass_timestamp_seconds',
      'reexport_pass_duration_seconds',
      'reexport_directory_read_seconds',
      'reexport_errors_total',
      'reexport_execution_claim_age_seconds',
      'reexport_preview_age_seconds',
    ])
      expect(text).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'));
    expect(board.snapshot().passes[0]).toMatchObject({
      ok: false,
      errors: [expect.stringContaining('could not read from remote repository')],
    });
  });
});
