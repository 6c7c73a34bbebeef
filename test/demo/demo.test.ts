import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbedded } from '../../src/demo/embedded.js';
import { runCli } from '../harness/cli.js';
import { cloneRepo, commitAndPush, gitIn } from '../harness/git.js';
import { waitUntil } from '../harness/ports.js';

describe('reexport demo', () => {
  it('tells the whole story: preview on the branch, execution on main, the directory changed', async () => {
    const res = await runCli(['demo'], { timeoutMs: 120_000 });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('| **To change** | **12 users, 24 attribute changes** |');
    expect(res.stdout).toContain('`CN=Åse Ødegård,OU=Ansatte,DC=kommune,DC=test`');
    expect(res.stdout).toContain('-mail: aase.odegaard@kommune.no\n+mail: aase.odegaard@lillevik.kommune.no');
    expect(res.stdout).toMatch(/\| applied \| 24 \|/);
    expect(res.stdout).toContain('mail: aase.odegaard@lillevik.kommune.no');
  });
});

describe('npm start (the embedded default)', () => {
  const roots: string[] = [];
  afterAll(async () => {
    for (const r of roots) await rm(r, { recursive: true, force: true });
  });

  it('previews a pushed branch in the local repository, stops cleanly, and a second start reuses its state', async () => {
    const state = await mkdtemp(path.join(tmpdir(), 'reexport-embedded-'));
    roots.push(state);
    const first = await startEmbedded({ stateDir: state, schedule: '* * * * * *', quiet: true });
    const human = await cloneRepo(first.repoUrl);
    try {
      await gitIn(human.dir, 'checkout', '-b', 'my-first-request');
      const example = await gitIn(human.dir, 'show', 'HEAD:requests/2026-11-25-new-mail-domain.yaml');
      await commitAndPush(
        human.dir,
        {
          'requests/my-first-request.yaml': example.replace(
            'name: 2026-11-25-new-mail-domain',
            'name: my-first-request',
          ),
        },
        'My first request',
      );
      await gitIn(human.dir, 'push', '-u', 'origin', 'my-first-request');
      await waitUntil(
        'preview on the branch',
        async () =>
          Boolean(
            await gitIn(first.repoUrl, 'show', 'my-first-request:reports/my-first-request/preview.md').catch(
              () => '',
            ),
          ),
        { timeoutMs: 30_000, intervalMs: 250 },
      );
      const health = await fetch(`http://127.0.0.1:${first.httpPort}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      await first.stop();
      await human.cleanup();
    }
    const preview = await gitIn(
      first.repoUrl,
      'show',
      'my-first-request:reports/my-first-request/preview.md',
    );
    expect(preview).toContain('# Preview: my-first-request');
    const second = await startEmbedded({ stateDir: state, schedule: '0 0 1 1 *', quiet: true });
    try {
      expect(second.repoUrl).toBe(first.repoUrl);
      expect(await gitIn(second.repoUrl, 'branch', '--list', 'my-first-request')).toContain(
        'my-first-request',
      );
    } finally {
      await second.stop();
    }
  });
});
