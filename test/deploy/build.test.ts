/**
 * The image without a container engine: the Dockerfile's build stage is replayed in a temporary
 * folder (its COPY and RUN lines, from a build context filtered by .dockerignore), its final stage's
 * COPY lines assemble the image's /app, and the commands run from there as they would in the
 * container: the CLI, `validate`, and the HEALTHCHECK against a server on a configured port.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import picomatch from 'picomatch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/ports.js';

const exec = promisify(execFile);
const project = path.resolve(import.meta.dirname, '../..');
const dockerfile = readFileSync(path.join(project, 'Dockerfile'), 'utf8');

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name?: string;
  steps: Instruction[];
}

/** The Dockerfile's stages and instructions (continuation lines joined, comments dropped). */
function stages(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const out: Stage[] = [];
  for (const line of lines) {
    const [, op, args] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    if (!op || args === undefined) throw new Error(`cannot read Dockerfile line: ${line}`);
    if (op.toUpperCase() === 'FROM') out.push({ name: /\bAS\s+(\S+)/i.exec(args)?.[1], steps: [] });
    else out.at(-1)?.steps.push({ op: op.toUpperCase(), args });
  }
  return out;
}

/** A stage's file system: absolute paths in the Dockerfile live under `root`. */
class Root {
  workdir = '/';
  env: Record<string, string> = {};
  constructor(readonly root: string) {}
  at(p: string): string {
    return path.join(this.root, path.posix.resolve(this.workdir, p));
  }
}

const words = (args: string) => (args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/));

/** COPY [--from=stage] SRC... DEST, with Docker's rules for a destination folder. */
async function copy(into: Root, args: string, context: string, built: Map<string, Root>): Promise<void> {
  const parts = words(args);
  const from = parts[0]?.startsWith('--from=') ? parts.shift()!.slice('--from='.length) : undefined;
  const dest = parts.pop()!;
  const source = from ? built.get(from) : undefined;
  if (from && !source) throw new Error(`COPY --from=${from}: no such stage`);
  for (const src of parts) {
    const abs = source ? source.at(src) : path.join(context, src);
    if (!existsSync(abs)) throw new Error(`COPY ${args}: ${src} is not in the ${from ?? 'build context'}`);
    const target = dest.endsWith('/') ? path.join(into.at(dest), path.basename(src)) : into.at(dest);
    await cp(abs, target, { recursive: true, verbatimSymlinks: true });
  }
}

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

let image: Root;
let healthcheck: string[];
let entrypoint: string[];

async function run(argv: string[], env: Record<string, string> = {}) {
  const [cmd, ...args] = argv.map((a) => (a.startsWith('/app/') ? image.at(a) : a));
  return exec(cmd!, args, { cwd: image.at('.'), env: { ...process.env, ...image.env, ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof err.code === 'number' ? err.code : -1,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    }),
  );
}

describe('the image, built as the Dockerfile says without a container engine', () => {
  beforeAll(async () => {
    const tmp = await mkdtemp(path.join(tmpdir(), 'reexport-image-'));
    dirs.push(tmp);

    // The build context: the checkout's files (tracked or new, not ignored) minus .dockerignore.
    const ignore = (await readFile(path.join(project, '.dockerignore'), 'utf8'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const ignored = picomatch(ignore, { dot: true });
    const listed = (
      await exec('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: project })
    ).stdout
      .split('\0')
      .filter((f) => f && existsSync(path.join(project, f)));
    const context = path.join(tmp, 'context');
    for (const f of listed) {
      const segments = f.split('/');
      if (segments.some((_, i) => ignored(segments.slice(0, i + 1).join('/')))) continue;
      await mkdir(path.dirname(path.join(context, f)), { recursive: true });
      await cp(path.join(project, f), path.join(context, f));
    }

    const built = new Map<string, Root>();
    const all = stages(dockerfile);
    for (const [i, stage] of all.entries()) {
      const last = i === all.length - 1;
      const fs = new Root(path.join(tmp, `stage-${i}`));
      for (const { op, args } of stage.steps) {
        if (op === 'WORKDIR') fs.workdir = path.posix.resolve(fs.workdir, args);
        else if (op === 'ENV') {
          const [k, ...v] = args.split('=');
          fs.env[k!] = v.join('=');
        } else if (op === 'COPY') await copy(fs, args, context, built);
        else if (op === 'RUN' && !last) {
          await mkdir(fs.at('.'), { recursive: true });
          // The build stage's own commands (npm ci, build, prune), as the image build runs them.
          await exec('sh', ['-c', args], {
            cwd: fs.at('.'),
            env: { ...process.env, ...fs.env, npm_config_prefer_offline: 'true' },
            maxBuffer: 64 * 1024 * 1024,
          });
        } else if (op === 'HEALTHCHECK') healthcheck = words(args.replace(/^.*?\bCMD\s+/, ''));
        else if (op === 'ENTRYPOINT') entrypoint = words(args);
        // The final stage's RUN lines install Debian packages and add the user: system setup.
      }
      if (stage.name) built.set(stage.name, fs);
      image = fs;
    }
  }, 900_000);

  it('pins the base image by digest', () => {
    expect(dockerfile).toMatch(/ARG NODE_IMAGE=node:24-bookworm-slim@sha256:[0-9a-f]{64}\n/);
    expect(dockerfile.match(/^FROM .*/gm)).toEqual(['FROM ${NODE_IMAGE} AS build', 'FROM ${NODE_IMAGE}']);
  });

  it('ships runtime dependencies only: no sources, no demo, no development dependency', async () => {
    const pkg = JSON.parse(await readFile(path.join(project, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
      dependencies: Record<string, string>;
    };
    expect(existsSync(image.at('src'))).toBe(false);
    expect(existsSync(image.at('config-example'))).toBe(false);
    expect(existsSync(image.at('dist/cli/main.js'))).toBe(true);
    const present = Object.keys(pkg.devDependencies).filter((d) => existsSync(image.at(`node_modules/${d}`)));
    expect(present).toEqual([]);
    expect(Object.keys(pkg.dependencies).filter((d) => !existsSync(image.at(`node_modules/${d}`)))).toEqual(
      [],
    );
  });

  it('runs the CLI from the build: --help', async () => {
    expect(entrypoint.slice(-1)).toEqual(['/app/bin/reexport.js']);
    const r = await run([...entrypoint.slice(-1), '--help']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/daemon/);
  });

  it('makes a starter config repository (`init`) that validates', async () => {
    const repo = path.join(path.dirname(image.root), 'init-repo');
    const made = await run([...entrypoint.slice(-1), 'init', repo]);
    expect(made.stderr).toMatch(/created .*templates\/employees\.yaml/);
    expect(made.code).toBe(0);
    const r = await run([...entrypoint.slice(-1), 'validate', repo]);
    expect(r.code).toBe(0);
  });

  it('validates a config repository (a copy of config-example)', async () => {
    const repo = path.join(path.dirname(image.root), 'config-repo');
    await cp(path.join(project, 'config-example'), repo, { recursive: true });
    const r = await run([...entrypoint.slice(-1), 'validate', repo]);
    // Without --config, validate says what it could not check; nothing else.
    expect(r.stderr.split('\n').filter((l) => l && !/^note: /.test(l) && !/^ok: /.test(l))).toEqual([]);
    expect(r.code).toBe(0);
  });

  describe('the HEALTHCHECK on the port the daemon config names', () => {
    const servers: Server[] = [];
    afterAll(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))));

    async function serve(status: number): Promise<number> {
      const server = createServer((req, res) => {
        res.writeHead(req.url === '/healthz' ? status : 404);
        res.end();
      });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return (server.address() as { port: number }).port;
    }
    async function check(port: number) {
      const config = path.join(path.dirname(image.root), `config-${port}.yaml`);
      await writeFile(config, `apiVersion: reexport/v1\nkind: DaemonConfig\nhttp: { port: ${port} }\n`);
      return run(healthcheck, { REEXPORT_CONFIG: config });
    }

    it('does not hard-code a port', () => {
      expect(healthcheck.join(' ')).not.toMatch(/\d{4}/);
    });

    it('exits 0 when /healthz answers 200', async () => {
      const r = await check(await serve(200));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    });

    it('exits 1 when /healthz answers an error', async () => {
      const r = await check(await serve(503));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/answered 503/);
    });

    it('exits 1 when nothing listens on the port', async () => {
      const r = await check(await freePort());
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/ECONNREFUSED/);
    });
  });
});
