#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { validateCommand } from './commands/validate.js';
import { describeError } from './errors.js';

const program = new Command()
  .name('reexport')
  .description('Re-export user attributes to Active Directory or any LDAPv3 directory, declaratively through Git')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command('validate')
  .description('validate a config repository checkout (exit 1 with file:line:col lines on errors)')
  .argument('[dir]', 'config repository checkout', '.')
  .option('-c, --config <file>', 'daemon config, to also check targets, sources and allowed attributes')
  .action(async (dir: string, opts: { config?: string }) => {
    process.exitCode = await validateCommand(dir, opts);
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
