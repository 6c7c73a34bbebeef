/**
 * Where an apply's time goes, measured in-process with the product's own modules:
 *
 *   node --import tsx bench/apply-phases.ts prep    <repo> <daemon.yaml> <request>
 *       the work before the first write: config, validation, the committed plan, the source, and
 *       a fresh read of the planned entries (the same batched ID searches apply-request.ts makes)
 *   node --import tsx bench/apply-phases.ts writes  <daemon.yaml> <plan.jsonl> <concurrency>
 *       the executor's LDAP writes alone (compare-and-swap modifies, no journal)
 *   node --import tsx bench/apply-phases.ts journal <plan.jsonl> <journalDir> <concurrency>
 *       the journal alone: the executor with writers that answer at once
 *
 * Prints one JSON object with milliseconds.
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { loadDaemonConfig } from '../src/config/daemon-config.js';
import { validateRepo } from '../src/config/validate-repo.js';
import { type EntryWriter, executePlan } from '../src/execute/executor.js';
import { Journal } from '../src/adapters/fs/journal.js';
import type { PlanChange } from '../src/plan/plan-types.js';
import { openLdapWriters } from '../src/adapters/ldap/writer.js';
import { openTargetReader } from '../src/adapters/ldap/readers.js';
import { parsePlanJsonl } from '../src/report/plan-jsonl.js';
import { loadTemplateSource } from '../src/workflows/load-source.js';

const [mode, ...args] = process.argv.slice(2);
const out: Record<string, unknown> = {};
const time = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
  const t0 = performance.now();
  const v = await fn();
  out[label] = Math.round(performance.now() - t0);
  return v;
};

if (mode === 'prep') {
  const [root, config, request] = args as [string, string, string];
  const daemon = await time('loadDaemonConfig', () => loadDaemonConfig(config));
  const { repo } = await time('validateRepo', () => validateRepo(root, daemon));
  const plan = await time('readAndParsePlan', async () =>
    parsePlanJsonl(await readFile(`${root}/reports/${request}/plan.jsonl`, 'utf8')),
  );
  const template = repo.templates.get(repo.requests.get(request)!.value!.spec.template)!.value!;
  await time('loadSource', () => loadTemplateSource(template, repo, daemon));
  // The fresh read before writing: the planned entries by ID, 500 IDs per search.
  const ids = [...new Set(plan.changes.map((c) => c.id))];
  const attributes = [...new Set(plan.changes.map((c) => c.attribute))];
  let entries = 0;
  await time('freshReadByIds', async () => {
    const target = await openTargetReader(daemon, template.spec.target);
    try {
      for (let i = 0; i < ids.length; i += 500) {
        for await (const page of target.readEntries({
          target: template.spec.target,
          baseDN: template.spec.scope.baseDN,
          scope: template.spec.scope.searchScope ?? 'sub',
          scopeFilter: template.spec.scope.filter,
          matchAttribute: template.spec.match.targetAttribute,
          ids: ids.slice(i, i + 500),
          attributes,
        }))
          entries += page.length;
      }
    } finally {
      await target.close();
    }
  });
  out.freshReadEntries = entries;
} else if (mode === 'writes' || mode === 'journal') {
  const planFile = mode === 'writes' ? args[1]! : args[0]!;
  const concurrency = Number(mode === 'writes' ? args[2] : (args[2] ?? 4));
  const plan = parsePlanJsonl(await readFile(planFile, 'utf8'));
  let writers: EntryWriter[];
  let close = async () => {};
  let journal: Journal;
  let closeJournal = async () => {};
  if (mode === 'writes') {
    const daemon = await loadDaemonConfig(args[0]!);
    const target = Object.keys(daemon.config.targets)[0]!;
    const opened = await time('openWriters', () => openLdapWriters(daemon, target, concurrency));
    writers = opened.writers;
    close = opened.close;
    journal = { record: async () => {}, close: async () => {} } as unknown as Journal;
  } else {
    writers = Array.from({ length: concurrency }, () => ({
      modify: async () => {},
      read: async () => new Map(),
    }));
    const j = await Journal.open(args[1]!, 'bench', plan.header.digests.plan);
    journal = j.journal;
    closeJournal = () => j.journal.close();
  }
  const result = await time('execute', () =>
    executePlan({
      changes: plan.changes,
      // Every entry as the plan saw it, so each change is written (the bench times the writes).
      fresh: asPlanned(plan.changes),
      dnKey: (dn) => dn,
      drift: new Map(),
      journal,
      done: new Map(),
      writers,
      // Measures the writes themselves: a failure is reported, not retried.
      retry: { attempts: 1, baseDelayMs: 0 },
    }),
  );
  await close();
  await closeJournal();
  const counts: Record<string, number> = {};
  for (const o of result.outcomes) counts[o.outcome] = (counts[o.outcome] ?? 0) + 1;
  out.outcomes = counts;
  out.concurrency = concurrency;
  out.entriesPerSecond = Math.round(plan.changes.length / ((out.execute as number) / 1000));
} else {
  throw new Error('usage: apply-phases.ts prep|writes|journal …');
}
out.cpuS = Math.round(((process.cpuUsage().user + process.cpuUsage().system) / 1e6) * 100) / 100;
process.stdout.write(`${JSON.stringify(out)}\n`);

/** The planned entries as the preview saw them (what a fresh read finds when nobody changed them). */
function asPlanned(changes: readonly PlanChange[]): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  for (const c of changes) {
    const attrs = out.get(c.dn) ?? new Map<string, string[]>();
    attrs.set(c.attribute.toLowerCase(), c.before);
    out.set(c.dn, attrs);
  }
  return out;
}
