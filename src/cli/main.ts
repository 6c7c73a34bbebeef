#!/usr/bin/env node
import './v8-flags.js';
import { Command, CommanderError } from 'commander';
import { describeError } from '../shared/errors.js';
import type { PreviewCommandOptions } from './commands/preview.js';

// Each command's modules are loaded when it runs: a preview does not pay for the daemon's git,
// HTTP and scheduler modules (a tenth of a large preview's time on start-up alone).

const program = new Command()
  .name('reexport')
  .description(
    'Re-export user attributes to Active Directory or any LDAPv3 directory, declaratively through Git',
  )
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command('validate')
  .description('validate a config repository checkout (exit 1 with file:line:col lines on errors)')
  .argument('[dir]', 'config repository checkout', '.')
  .option('-c, --config <file>', 'daemon config, to also check targets, sources and allowed attributes')
  .action(async (dir: string, opts: { config?: string }) => {
    const { validateCommand } = await import('./commands/validate.js');
    process.exitCode = await validateCommand(dir, opts);
  });

program
  .command('preview')
  .description("compute a request's plan locally and print it (never writes to the directory)")
  .argument('<request>', 'request name, or path to requests/<name>.yaml')
  .requiredOption('-c, --config <file>', 'daemon config (connections and sources)')
  .option('-r, --repo <dir>', "config repository checkout (default: the request path's repository, or .)")
  .option('--id <id...>', 'only these user IDs')
  .option('-f, --format <format>', 'md | jsonl | ldif', 'md')
  .option(
    '-o, --out <dir>',
    'write preview.md, plan.jsonl, changes.ldif and status.yaml into this folder instead',
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
  .requiredOption('-c, --config <file>', 'daemon config (repository, connections, safety limits)')
  .option('--force', 'also run a request with execute: false, or a fresh plan when none was reviewed')
  .action(async (request: string, opts: { config: string; force?: boolean }) => {
    const { applyCommand } = await import('./commands/apply.js');
    process.exitCode = await applyCommand(request, opts);
  });

program
  .command('daemon')
  .description('the long-running reconciler: previews pull requests, executes merged requests')
  .requiredOption('-c, --config <file>', 'daemon config')
  .action(async (opts: { config: string }) => {
    const { daemonCommand } = await import('./commands/daemon.js');
    process.exitCode = await daemonCommand(opts);
  });

program
  .command('once')
  .description('one reconcile pass (for a Kubernetes CronJob)')
  .requiredOption('-c, --config <file>', 'daemon config')
  .action(async (opts: { config: string }) => {
    const { onceCommand } = await import('./commands/daemon.js');
    process.exitCode = await onceCommand(opts);
  });

program
  .command('demo')
  .description(
    'the whole story in one go on an embedded directory: pull request, preview, merge, execution, result',
  )
  .action(async () => {
    // Loaded only here: the in-process directory never enters the product's real paths.
    const { demoCommand } = await import('./commands/start.js');
    process.exitCode = await demoCommand();
  });

program
  .command('start', { hidden: true })
  .description('the embedded default behind `npm start`')
  .action(async () => {
    const { startCommand } = await import('./commands/start.js');
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
