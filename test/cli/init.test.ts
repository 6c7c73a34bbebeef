import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

const ROOT = path.resolve(import.meta.dirname, '../..');

async function emptyDir(files: Record<string, string> = {}): Promise<string> {
  const { dir, cleanup } = await makeDir(files);
  cleanups.push(cleanup);
  return dir;
}

async function allFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** Every `# yaml-language-server: $schema=…` line must name a schema file that exists, relative to its file. */
async function schemaLinks(dir: string): Promise<Array<{ file: string; schema: string; exists: boolean }>> {
  const out = [];
  for (const file of (await allFiles(dir)).filter((f) => /\.ya?ml$/.test(f))) {
    const m = /^# yaml-language-server: \$schema=(\S+)/m.exec(await readFile(path.join(dir, file), 'utf8'));
    if (!m) continue;
    const target = path.resolve(path.dirname(path.join(dir, file)), m[1]!);
    out.push({ file, schema: path.basename(target), exists: existsSync(target) });
  }
  return out;
}

describe('reexport init', () => {
  it('scaffolds a config repository that validates as it is', async () => {
    const dir = path.join(await emptyDir(), 'iam-config');
    const res = await runCli(['init', dir]);
    expect(res).toMatchObject({ code: 0, stdout: '' });
    expect(await allFiles(dir)).toEqual([
      '.forgejo/workflows/reexport.yml',
      '.github/workflows/reexport.yml',
      '.gitlab-ci.yml',
      '.reexport/schemas/daemon-config.schema.json',
      '.reexport/schemas/reexport-request.schema.json',
      '.reexport/schemas/sync-template.schema.json',
      '.vscode/settings.json',
      'CODEOWNERS',
      'README.md',
      'data/employees.csv',
      'requests/example-mail.yaml',
      'templates/employees.yaml',
    ]);
    const validate = await runCli(['validate', dir]);
    expect(validate.code).toBe(0);
    expect(validate.stderr).toMatch(/ok: 1 template, 1 request/);

    // Editors find the schemas: the files' $schema lines and the YAML extension's settings.
    for (const name of ['sync-template', 'reexport-request', 'daemon-config']) {
      expect(await readFile(path.join(dir, `.reexport/schemas/${name}.schema.json`), 'utf8')).toBe(
        await readFile(path.join(ROOT, `schemas/${name}.schema.json`), 'utf8'),
      );
    }
    expect(await schemaLinks(dir)).toEqual([
      { file: 'requests/example-mail.yaml', schema: 'reexport-request.schema.json', exists: true },
      { file: 'templates/employees.yaml', schema: 'sync-template.schema.json', exists: true },
    ]);
    const settings = JSON.parse(await readFile(path.join(dir, '.vscode/settings.json'), 'utf8')) as {
      'yaml.schemas': Record<string, string>;
    };
    for (const schema of Object.keys(settings['yaml.schemas']))
      expect(existsSync(path.join(dir, schema))).toBe(true);

    // CI runs both checks on each forge, with the package's own version.
    const { version } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    for (const ci of ['.github/workflows/reexport.yml', '.forgejo/workflows/reexport.yml']) {
      const wf = parse(await readFile(path.join(dir, ci), 'utf8')) as {
        on: unknown;
        jobs: Record<string, { steps: Array<{ run?: string }> }>;
      };
      expect(Object.keys(wf.jobs)).toEqual(['validate', 'verify']);
      const runs = Object.values(wf.jobs).flatMap((j) => j.steps.map((s) => s.run ?? ''));
      expect(runs.join('\n')).toMatch(/reexport validate --format (github|text) \./);
      expect(runs.join('\n')).toMatch(/reexport verify --base "origin\/\$\{\{ github\.base_ref \}\}"/);
      // Never the npm registry's `reexport` (another project): the CLI comes from where the team says.
      expect(runs.join('\n')).toContain('npm install -g "${REEXPORT_CLI:?');
      expect(await readFile(path.join(dir, ci), 'utf8')).toContain(`reexport-${version}.tgz`);
    }
    const gitlab = parse(await readFile(path.join(dir, '.gitlab-ci.yml'), 'utf8')) as Record<
      string,
      { script?: string[]; artifacts?: { reports?: { codequality?: string } } }
    >;
    expect(gitlab['reexport-validate']!.script).toEqual([
      'reexport validate --format gitlab . > gl-code-quality-report.json',
    ]);
    expect(gitlab['reexport-validate']!.artifacts?.reports?.codequality).toBe('gl-code-quality-report.json');
    expect(gitlab['reexport-verify']!.script!.join('\n')).toMatch(/reexport verify --base/);
    expect(await readFile(path.join(dir, 'CODEOWNERS'), 'utf8')).toMatch(/^\/templates\/ .*\n\/requests\/ /m);
  });

  it('never overwrites a file: refuses, or leaves existing files with --skip-existing', async () => {
    const dir = await emptyDir({ 'README.md': '# Ours\n' });
    const refused = await runCli(['init', dir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/README\.md: exists\ninit writes no file over an existing one/);
    expect(await allFiles(dir)).toEqual(['README.md']);
    const skipped = await runCli(['init', dir, '--skip-existing']);
    expect(skipped.code).toBe(0);
    expect(await readFile(path.join(dir, 'README.md'), 'utf8')).toBe('# Ours\n');
    expect(await allFiles(dir)).toContain('templates/employees.yaml');
  });
});

describe('config-example', () => {
  it('finds its schemas where a real config repository has them, in step with schemas/', async () => {
    const links = await schemaLinks(path.join(ROOT, 'config-example'));
    expect(links.length).toBeGreaterThanOrEqual(5);
    expect(links.filter((l) => !l.exists)).toEqual([]);
    for (const name of await readdir(path.join(ROOT, 'schemas'))) {
      // If this fails after a schema change: cp schemas/*.schema.json config-example/.reexport/schemas/
      expect(await readFile(path.join(ROOT, 'config-example/.reexport/schemas', name), 'utf8')).toBe(
        await readFile(path.join(ROOT, 'schemas', name), 'utf8'),
      );
    }
  });
});
