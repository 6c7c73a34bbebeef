#!/usr/bin/env node
import './v8-flags.js';
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { describeError, UsageError } from '../shared/errors.js';
import type { PreviewCommandOptions } from './commands/preview.js';
import type { ValidateOptions } from './commands/validate.js';
import type { VerifyOptions } from './commands/verify.js';
import type { InitOptions } from './commands/init.js';
import type * as StartModule from './commands/start.js';

/** src/cli/main.ts and dist/cli/main.js are both two levels below the package's package.json. */
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

// Each command's modules are loaded when it runs: a preview does not pay for the daemon's git,
// HTTP and scheduler modules (a tenth of a large preview's time on start-up alone).

const program = new Command()
  .name('reexport')
  .description(
    'Re-export user attributes to Active Directory or any LDAPv3 directory, declaratively through Git',
  )
  .version(version, '-V, --version', 'print the version')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

/**
 * The daemon config option of commands that need one: REEXPORT_CONFIG gives it too (the image sets
 * it to where deploy/ mounts the config), so `reexport refresh` in the container needs no flag.
 */
const configOption = (what: string) =>
  new Option('-c, --config <file>', `daemon config (${what})`).env('REEXPORT_CONFIG').makeOptionMandatory();

/**
 * The demo's in-process directory (ldapjs) is a development dependency: the installed package and
 * the image leave it out. Said as what it is, not as a crash.
 */
async function demoModule(): Promise<typeof StartModule> {
  try {
    return await import('./commands/start.js');
  } catch (err) {
    if (/Cannot find (module|package) '(ldapjs|@ldapjs\/[^']+)'/.test(String((err as Error)?.message)))
      throw new UsageError(
        'the demo and `npm start` run from a source checkout (git clone, then npm ci): the installed package and the image leave out their embedded directory',
      );
    throw err;
  }
}

// An empty config (`-c ''`, REEXPORT_CONFIG set but empty) is no config, not a file named "".
program.hook('preAction', (_, action) => {
  const { config } = action.opts<{ config?: string }>();
  if (config !== '') return;
  throw new UsageError(
    action.getOptionValueSource('config') === 'env'
      ? 'REEXPORT_CONFIG is empty; give the daemon config with -c FILE'
      : '-c is empty; give the daemon config file',
  );
});

const FORMAT_HELP =
  'text (file:line:col on stderr) | json | github (workflow commands) | gitlab (Code Quality)';

program
  .command('validate')
  .description('every check of a config repository that needs no directory (exit 0 ok, 1 invalid, 2 usage)')
  .argument('[dir]', 'config repository checkout', '.')
  .option('-c, --config <file>', 'daemon config, to also check targets, sources and allowed attributes')
  .option('-f, --format <format>', FORMAT_HELP, 'text')
  .action(async (dir: string, opts: ValidateOptions) => {
    const { validateCommand } = await import('./commands/validate.js');
    process.exitCode = await validateCommand(dir, opts);
  });

program
  .command('verify')
  .description(
    "for a pull request's required check: each request the branch adds or changes has the daemon's current, signed preview",
  )
  .argument('[dir]', 'config repository checkout (with its Git history)', '.')
  .option('--base <ref>', 'the branch the pull request targets (default: origin/main, else main)')
  .option('--public-key <file>', "the daemon's public key (PEM); or the env REEXPORT_PUBLIC_KEY with the PEM")
  .option('-f, --format <format>', FORMAT_HELP, 'text')
  .action(async (dir: string, opts: VerifyOptions) => {
    const { verifyCommand } = await import('./commands/verify.js');
    process.exitCode = await verifyCommand(dir, opts);
  });

program
  .command('init')
  .description(
    'scaffold a config repository: folders, an example, schemas for editors, CI workflows, CODEOWNERS',
  )
  .argument('[dir]', 'folder to create or fill', '.')
  .option('--skip-existing', 'leave files that already exist as they are (default: refuse to start)')
  .action(async (dir: string, opts: InitOptions) => {
    const { initCommand } = await import('./commands/init.js');
    process.exitCode = await initCommand(dir, opts);
  });

program
  .command('preview')
  .description("compute a request's plan locally and print it (never writes to the directory)")
  .argument('<request>', 'request name, or path to requests/<name>.yaml')
  .addOption(configOption('connections and sources'))
  .option('-r, --repo <dir>', "config repository checkout (default: the request path's repository, or .)")
  .option('--id <id...>', 'only these user IDs')
  .option('-f, --format <format>', 'md | jsonl | ldif', 'md')
  .option(
    '-o, --out <dir>',
    'write the report folder as the daemon commits it (preview.md, plan.jsonl or .gz, changes.ldif when small, status.yaml)',
  )
  .option('--max-users <n>', 'users shown in preview.md')
  .action(async (request: string, opts: PreviewCommandOptions) => {
    const { previewCommand } = await import('./commands/preview.js');
    process.exitCode = await previewCommand(request, opts);
  });

program
  .command('apply')
  .description(
    "execute a merged request now, under the daemon's rules (reviewed plan, once, recorded in Git)",
  )
  .argument('<request>', 'request name (requests/<name>.yaml on the main branch)')
  .addOption(configOption('repository, connections, safety limits'))
  .option('--force', 'also run a request with execute: false, or a fresh plan when none was reviewed')
  .action(async (request: string, opts: { config: string; force?: boolean }) => {
    const { applyCommand } = await import('./commands/apply.js');
    process.exitCode = Math.max(await applyCommand(request, opts), Number(process.exitCode ?? 0));
  });

program
  .command('daemon')
  .description('the long-running reconciler: previews pull requests, executes merged requests')
  .addOption(configOption('repository, connections, schedule'))
  .action(async (opts: { config: string }) => {
    const { daemonCommand } = await import('./commands/daemon.js');
    process.exitCode = Math.max(await daemonCommand(opts), Number(process.exitCode ?? 0));
  });

program
  .command('once')
  .description('one reconcile pass (for a Kubernetes CronJob)')
  .addOption(configOption('repository, connections'))
  .action(async (opts: { config: string }) => {
    const { onceCommand } = await import('./commands/daemon.js');
    process.exitCode = Math.max(await onceCommand(opts), Number(process.exitCode ?? 0));
  });

program
  .command('refresh')
  .description(
    'ask the running daemon to recompute these previews (or all) now, whatever its idle checks say',
  )
  .argument('[requests...]', 'request names; none: every request')
  .addOption(configOption('for the webhook secret and the HTTP port'))
  .option('--url <url>', "the daemon's HTTP address (default: http://127.0.0.1:<http.port>)")
  .action(async (requests: string[], opts: { config: string; url?: string }) => {
    const { refreshCommand } = await import('./commands/daemon.js');
    process.exitCode = await refreshCommand(requests, opts);
  });

program
  .command('demo')
  .description(
    'the whole story in one go on an embedded directory: pull request, preview, merge, execution, result',
  )
  .action(async () => {
    // Loaded only here: the in-process directory never enters the product's real paths.
    const { demoCommand } = await demoModule();
    process.exitCode = await demoCommand();
  });

program
  .command('start', { hidden: true })
  .description('the embedded default behind `npm start`')
  .action(async () => {
    const { startCommand } = await demoModule();
    process.exitCode = await startCommand();
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    const report = describeError(err);
    process.stderr.write(`${report.message}\n`);
    process.exitCode = report.exitCode;
  }
}
