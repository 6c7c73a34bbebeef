/**
 * Where a preview's time goes, measured in-process through the product's own modules (the same
 * functions `reexport preview` calls), without a profiler's overhead:
 *
 *   node --import tsx bench/phases.ts <repo> <daemon.yaml> <request> <outDir>
 *
 * Prints one JSON object: milliseconds per phase. "directory" is the time spent inside the
 * directory iterator (waiting for slapd, BER decoding in ldapts, turning entries into maps);
 * "planning" is the rest of previewRequest after validation and the source.
 */
import { performance } from 'node:perf_hooks';

const [root, config, request, outDir] = process.argv.slice(2);
if (!root || !config || !request || !outDir)
  throw new Error('usage: phases.ts <repo> <daemon.yaml> <request> <outDir>');

const lap = (() => {
  let last = performance.now();
  return () => {
    const now = performance.now();
    const d = now - last;
    last = now;
    return d;
  };
})();

const t: Record<string, number> = {};
const mods = await Promise.all([
  import('../src/config/daemon-config.js'),
  import('../src/config/validate-repo.js'),
  import('../src/workflows/load-source.js'),
  import('../src/adapters/ldap/readers.js'),
  import('../src/workflows/preview.js'),
  import('../src/report/preview-md.js'),
  import('../src/report/plan-jsonl.js'),
  import('../src/report/ldif.js'),
  import('../src/report/write-reports.js'),
  import('../src/adapters/fs/write-files.js'),
]);
const [
  { loadDaemonConfig },
  { validateRepo },
  { loadTemplateSource },
  { openTargetReader },
  { previewRequest },
  { renderPreviewMd },
  { renderPlanJsonl },
  { renderLdif },
  { renderPreviewFiles },
  { writeFiles },
] = mods;
t.importModules = lap();

const daemon = await loadDaemonConfig(config);
t.loadDaemonConfig = lap();
const { repo } = await validateRepo(root, daemon);
t.validateRepo = lap();
const reqValue = repo.requests.get(request)!.value!;
const template = repo.templates.get(reqValue.spec.template)!.value!;
await loadTemplateSource(template, repo, daemon);
t.loadSource = lap();

let inDirectory = 0;
let pages = 0;
let entries = 0;
const result = await previewRequest(root, request, daemon, {
  openTarget: async (name) => {
    const t0 = performance.now();
    const target = await openTargetReader(daemon, name);
    inDirectory += performance.now() - t0;
    return {
      close: () => target.close(),
      readEntries: (query) => ({
        async *[Symbol.asyncIterator]() {
          const it = target.readEntries(query)[Symbol.asyncIterator]();
          for (;;) {
            const t1 = performance.now();
            const r = await it.next();
            inDirectory += performance.now() - t1;
            if (r.done) return;
            pages++;
            entries += r.value.length;
            yield r.value;
          }
        },
      }),
    };
  },
});
const previewTotal = lap();
if ('invalid' in result) throw new Error(`invalid: ${JSON.stringify(result.invalid)}`);
const plan = result.plan;
t.previewRequestTotal = previewTotal;
t['  directory (connect + paged search + decode)'] = inDirectory;
t['  planning + validate + source again'] = previewTotal - inDirectory;
t['  planning alone (estimate)'] = previewTotal - inDirectory - t.validateRepo - t.loadSource;

lap();
renderPreviewMd(plan, { maxUsers: 200 });
t.renderPreviewMd = lap();
renderPlanJsonl(plan);
t.renderPlanJsonl = lap();
renderLdif(plan.changes);
t.renderLdif = lap();
const files = renderPreviewFiles(plan, 200);
t.renderPreviewFilesAll = lap();
await writeFiles(outDir, files);
t.writeFiles = lap();

const mem = process.memoryUsage();
process.stdout.write(
  `${JSON.stringify({
    ms: Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v)])),
    pages,
    entries,
    changes: plan.changes.length,
    collisions: plan.summary.collisions.length,
    bytes: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, Buffer.byteLength(v)])),
    heapUsedMb: Math.round(mem.heapUsed / 1048576),
    rssMb: Math.round(mem.rss / 1048576),
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  })}\n`,
);
