import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface InitOptions {
  skipExisting?: boolean;
}

/** Both src/cli/commands/init.ts and dist/cli/commands/init.js sit three levels below the package. */
const PACKAGE = fileURLToPath(new URL('../../../', import.meta.url));
/** Where the scaffold's files find the schemas (their `$schema` lines and .vscode/settings.json). */
const SCHEMAS_DIR = '.reexport/schemas';

/** `reexport init`: a config repository a team can push as its first commit. Never overwrites a file. */
export async function initCommand(
  dir: string,
  opts: InitOptions,
  io: { stderr: NodeJS.WritableStream } = process,
): Promise<number> {
  const files = await scaffoldFiles();
  const root = path.resolve(dir);
  const existing: string[] = [];
  for (const rel of Object.keys(files)) {
    if (
      await lstat(path.join(root, rel)).then(
        () => true,
        () => false,
      )
    )
      existing.push(rel);
  }
  if (existing.length && !opts.skipExisting) {
    io.stderr.write(
      `${existing.map((f) => `${path.join(dir, f)}: exists\n`).join('')}init writes no file over an existing one; use an empty folder, move these, or give --skip-existing\n`,
    );
    return 1;
  }
  const written: string[] = [];
  for (const [rel, content] of Object.entries(files)) {
    if (existing.includes(rel)) continue;
    const abs = path.join(root, rel);
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content, { flag: 'wx' });
    written.push(rel);
  }
  io.stderr.write(
    `${written.map((f) => `created ${path.join(dir, f)}\n`).join('')}${existing.length ? `left ${existing.length} existing file(s) as they were\n` : ''}` +
      `next: adapt templates/ and data/, run \`reexport validate ${dir}\`, commit, and push as the first commit;\n` +
      'then set REEXPORT_PUBLIC_KEY and REEXPORT_CLI for the CI checks and make them required (see README.md)\n',
  );
  return 0;
}

/** Path in the new repository → content: the scaffold folder, the package's version in CI files, the schemas. */
async function scaffoldFiles(): Promise<Record<string, string>> {
  const { version } = JSON.parse(await readFile(path.join(PACKAGE, 'package.json'), 'utf8')) as {
    version: string;
  };
  const out: Record<string, string> = {};
  const scaffold = path.join(PACKAGE, 'scaffold');
  for (const rel of await listFiles(scaffold)) {
    const text = await readFile(path.join(scaffold, rel), 'utf8');
    out[rel] = text.replaceAll('__REEXPORT_VERSION__', version);
  }
  for (const name of await readdir(path.join(PACKAGE, 'schemas'))) {
    if (name.endsWith('.schema.json'))
      out[`${SCHEMAS_DIR}/${name}`] = await readFile(path.join(PACKAGE, 'schemas', name), 'utf8');
  }
  return out;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(path.join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}
