import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const project = path.resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** A copy of the launcher beside a source tree and a build that say which one ran. */
async function layout(opts: { source: boolean; build: boolean }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'reexport-bin-'));
  dirs.push(dir);
  await mkdir(path.join(dir, 'bin'));
  await cp(path.join(project, 'bin/reexport.js'), path.join(dir, 'bin/reexport.js'));
  await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  await symlink(path.join(project, 'node_modules'), path.join(dir, 'node_modules'));
  if (opts.source) {
    await mkdir(path.join(dir, 'src/cli'), { recursive: true });
    const typed: string = 'edited source';
    await writeFile(
      path.join(dir, 'src/cli/main.ts'),
      `const s: string = ${JSON.stringify(typed)};\nconsole.log(s);\n`,
    );
  }
  if (opts.build) {
    await mkdir(path.join(dir, 'dist/cli'), { recursive: true });
    await writeFile(path.join(dir, 'dist/cli/main.js'), "console.log('stale build');\n");
  }
  return dir;
}

const launch = async (dir: string) =>
  (await run(process.execPath, [path.join(dir, 'bin/reexport.js')])).stdout.trim();

describe('bin/reexport.js', () => {
  it('runs the edited sources in a checkout, even after a build', async () => {
    expect(await launch(await layout({ source: true, build: true }))).toBe('edited source');
  });

  it('runs the build where no sources ship (the image, the packed package)', async () => {
    expect(await launch(await layout({ source: false, build: true }))).toBe('stale build');
  });

  it('runs as an executable (the image, the installed command) with its Node flags', async () => {
    const dir = await layout({ source: false, build: false });
    await mkdir(path.join(dir, 'dist/cli'), { recursive: true });
    await writeFile(path.join(dir, 'dist/cli/main.js'), 'console.log(process.execArgv.join(" "));\n');
    const { stdout } = await run(path.join(dir, 'bin/reexport.js'));
    expect(stdout.trim()).toBe('--max-semi-space-size=8');
  });
});
