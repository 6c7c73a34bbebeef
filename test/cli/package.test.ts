import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const work = await mkdtemp(path.join(tmpdir(), 'reexport-package-'));
afterAll(() => rm(work, { recursive: true, force: true }));

/** Runs a command; resolves to its exit code and output instead of throwing. */
async function sh(cmd: string, args: string[], cwd: string) {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('the packed package', () => {
  it(
    'installs into an empty folder and runs --version, init and validate there',
    { timeout: 300_000 },
    async () => {
      const packed = await sh('npm', ['pack', '--pack-destination', work], ROOT);
      expect(packed.code, packed.stderr).toBe(0);
      const tarball = (await readdir(work)).find((f) => f.endsWith('.tgz'));
      expect(tarball).toBeDefined();

      const app = path.join(work, 'admin');
      await mkdir(app);
      await writeFile(
        path.join(app, 'package.json'),
        '{ "name": "admin", "version": "1.0.0", "private": true }\n',
      );
      // The cache usually holds every dependency; the registry fills in what it does not.
      const installed = await sh(
        'npm',
        ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(work, tarball!)],
        app,
      );
      expect(installed.code, installed.stderr).toBe(0);
      // The installed copy has no sources: it runs the compiled build, with no development tools.
      expect(await readdir(path.join(app, 'node_modules/reexport'))).not.toContain('src');

      const npx = (...args: string[]) => sh('npx', ['--no-install', 'reexport', ...args], app);
      const { version } = (await import('../../package.json', { with: { type: 'json' } })).default;
      expect(await npx('--version')).toMatchObject({ code: 0, stdout: `${version}\n` });
      const init = await npx('init', 'iam-config');
      expect(init.code, init.stderr).toBe(0);
      expect(init.stderr).toMatch(/created iam-config\/templates\/employees\.yaml/);
      const valid = await npx('validate', 'iam-config');
      expect(valid).toMatchObject({ code: 0, stdout: '' });
      expect(valid.stderr).toMatch(/ok: 1 template, 1 request/);
      const invalid = await npx('validate', '.', '--format', 'json');
      expect(invalid.code).toBe(1);
      expect(JSON.parse(invalid.stdout)).toMatchObject({ ok: false, counts: { errors: 1 } });
      // The demo's directory is a development dependency: said so, not an "internal error".
      const demo = await npx('demo');
      expect(demo.code).toBe(2);
      expect(demo.stderr).toMatch(/^usage: the demo and `npm start` run from a source checkout/);
    },
  );
});
