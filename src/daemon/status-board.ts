import type { LiveReadings } from '../adapters/http/metrics.js';
import type {
  Observer,
  PassOutcome,
  ProblemReport,
  RequestReport,
  StatusSnapshot,
} from '../ports/observer.js';

interface RequestEntry {
  state: string;
  commit?: string;
  message?: string;
  updatedAt: number;
}

interface PassRecord {
  startedAt: number;
  finishedAt?: number;
  ok?: boolean;
  errors: string[];
  summary?: Record<string, number>;
}

interface Running {
  request: string;
  startedAt: number;
  done: number;
  total?: number;
  /** (time, done) pairs of the last RATE_WINDOW_MS, for a rate that follows the present pace. */
  samples: Array<[number, number]>;
}

const RATE_WINDOW_MS = 10_000;
const KEEP_PASSES = 20;
const KEEP_EXECUTIONS = 10;
/** A request whose state is one of these has a preview that reviewers rely on being current. */
const OPEN_PREVIEW = new Set(['previewed', 'invalid', 'refused']);

/**
 * The daemon's own view of what it does, in memory: requests by branch and state, the execution
 * queue and the running execution's progress, the last passes. Feeds the status page and the
 * present-state metrics. Holds names, IDs and counts only, never directory values.
 */
export class StatusBoard implements Observer {
  private readonly requests = new Map<string, Map<string, RequestEntry>>();
  private seen = new Set<string>();
  private readonly queue = new Map<string, number>();
  private queuedThisPass = new Set<string>();
  private running: Running | undefined;
  private readonly passes: PassRecord[] = [];
  private readonly executions: StatusSnapshot['executions'] = [];

  constructor(
    private readonly opts: {
      /** URL template with {branch}, {request} and {commit}, e.g. a forge's view of reports/. */
      reportUrl?: string;
      now?: () => number;
    } = {},
  ) {}

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  passStarted(): void {
    this.passes.unshift({ startedAt: this.now(), errors: [] });
    if (this.passes.length > KEEP_PASSES) this.passes.length = KEEP_PASSES;
    this.seen = new Set();
    this.queuedThisPass = new Set();
  }

  passFinished(outcome: PassOutcome): void {
    const pass = this.current();
    pass.finishedAt = this.now();
    for (const e of outcome.errors) if (!pass.errors.includes(e)) pass.errors.push(e);
    pass.ok = outcome.ok && pass.errors.length === 0;
    if (outcome.summary) pass.summary = outcome.summary;
    // Only a whole pass knows what is gone: a failed one may have skipped branches that still exist.
    if (!pass.ok) return;
    for (const [branch, reqs] of this.requests) {
      for (const name of reqs.keys()) if (!this.seen.has(key(branch, name))) reqs.delete(name);
      if (reqs.size === 0) this.requests.delete(branch);
    }
    for (const name of this.queue.keys()) if (!this.queuedThisPass.has(name)) this.queue.delete(name);
  }

  /** Whether the pass in progress (or the last one) has recorded a problem. */
  passHasProblems(): boolean {
    return (this.passes[0]?.errors.length ?? 0) > 0;
  }

  problem(p: ProblemReport): void {
    const where = [p.branch, p.request].filter(Boolean).join(' ');
    this.current().errors.push(where ? `${where}: ${p.message}` : p.message);
  }

  requestState(r: RequestReport): void {
    let reqs = this.requests.get(r.branch);
    if (!reqs) this.requests.set(r.branch, (reqs = new Map<string, RequestEntry>()));
    reqs.set(r.request, {
      state: r.state,
      ...(r.commit ? { commit: r.commit } : {}),
      ...(r.message ? { message: r.message } : {}),
      updatedAt: this.now(),
    });
    this.seen.add(key(r.branch, r.request));
  }

  executionQueued(request: string): void {
    if (!this.queue.has(request)) this.queue.set(request, this.now());
    this.queuedThisPass.add(request);
  }

  executionStarted(request: string, total?: number): void {
    const now = this.now();
    this.running = { request, startedAt: now, done: 0, total, samples: [[now, 0]] };
  }

  executionProgress(request: string, done: number, total: number): void {
    if (this.running?.request !== request) this.executionStarted(request, total);
    const r = this.running!;
    const now = this.now();
    r.done = done;
    r.total = total;
    r.samples.push([now, done]);
    while (r.samples.length > 2 && now - r.samples[0]![0] > RATE_WINDOW_MS) r.samples.shift();
  }

  executionFinished(request: string, result: { state: string; counts: Record<string, number> }): void {
    if (this.running?.request === request) this.running = undefined;
    this.queue.delete(request);
    this.queuedThisPass.delete(request);
    this.executions.unshift({
      request,
      state: result.state,
      counts: result.counts,
      finishedAt: iso(this.now()),
    });
    if (this.executions.length > KEEP_EXECUTIONS) this.executions.length = KEEP_EXECUTIONS;
  }

  snapshot(): StatusSnapshot {
    const now = this.now();
    const branches = [...this.requests.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([branch, reqs]) => ({
        name: branch,
        requests: [...reqs.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([name, e]) => ({
            name,
            state: e.state,
            ...(e.commit ? { commit: e.commit } : {}),
            ...(e.message ? { message: e.message } : {}),
            updatedAt: iso(e.updatedAt),
            ...(this.opts.reportUrl
              ? { reportUrl: reportUrl(this.opts.reportUrl, branch, name, e.commit) }
              : {}),
          })),
      }));
    const queue = [...this.queue.entries()]
      .filter(([request]) => request !== this.running?.request)
      .map(([request, at]) => ({ request, queuedAt: iso(at) }));
    return {
      generatedAt: iso(now),
      branches,
      queue,
      ...(this.running ? { running: this.progressOf(this.running) } : {}),
      passes: this.passes.map((p) => ({
        startedAt: iso(p.startedAt),
        ...(p.finishedAt !== undefined
          ? { finishedAt: iso(p.finishedAt), durationMs: p.finishedAt - p.startedAt, ok: p.ok }
          : {}),
        errors: [...p.errors],
        ...(p.summary ? { summary: p.summary } : {}),
      })),
      executions: this.executions.map((e) => ({ ...e })),
    };
  }

  /** The present-state metrics. */
  live(): LiveReadings {
    const now = this.now();
    const previewAgeSeconds: Record<string, number> = {};
    for (const reqs of this.requests.values())
      for (const [name, e] of reqs) {
        if (!OPEN_PREVIEW.has(e.state)) continue;
        const age = Math.round((now - e.updatedAt) / 1000);
        previewAgeSeconds[name] = Math.min(previewAgeSeconds[name] ?? Infinity, age);
      }
    const queued = new Set(this.queue.keys());
    if (this.running) queued.add(this.running.request);
    return {
      queueLength: queued.size,
      claimAgeSeconds: this.running ? Math.round((now - this.running.startedAt) / 1000) : 0,
      previewAgeSeconds,
    };
  }

  private progressOf(r: Running): NonNullable<StatusSnapshot['running']> {
    const [t0, d0] = r.samples[0]!;
    const [t1, d1] = r.samples[r.samples.length - 1]!;
    const rate = t1 - t0 >= 500 ? ((d1 - d0) * 1000) / (t1 - t0) : undefined;
    const left = r.total !== undefined ? r.total - r.done : undefined;
    return {
      request: r.request,
      startedAt: iso(r.startedAt),
      done: r.done,
      ...(r.total !== undefined ? { total: r.total } : {}),
      ...(rate !== undefined ? { rate: Math.round(rate * 10) / 10 } : {}),
      ...(rate && left !== undefined ? { etaSeconds: Math.ceil(left / rate) } : {}),
    };
  }

  private current(): PassRecord {
    // Observations outside a pass (none today) still land somewhere visible.
    if (this.passes.length === 0) this.passStarted();
    return this.passes[0]!;
  }
}

function key(branch: string, request: string): string {
  return `${branch}\u0000${request}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Fills the template; each path segment of the branch is encoded, the slashes between them kept. */
export function reportUrl(template: string, branch: string, request: string, commit?: string): string {
  const segments = (s: string) => s.split('/').map(encodeURIComponent).join('/');
  return template
    .replaceAll('{branch}', segments(branch))
    .replaceAll('{request}', encodeURIComponent(request))
    .replaceAll('{commit}', encodeURIComponent(commit ?? branch));
}
