/**
 * The metrics an operator alerts on, in Prometheus' text format. Hand-written because the set is
 * small and fixed; a client library would bring a registry we do not need. The names are the
 * contract of docs/operators/metrics.md and deploy/'s alerts and dashboard: rename nothing.
 */
type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}`;
}

function header(name: string, help: string, type: string): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
}

class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels)) ?? 0;
  }
  render(): string[] {
    const lines = header(this.name, this.help, 'counter');
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [labels, v] of this.values) lines.push(`${this.name}${labels} ${v}`);
    return lines;
  }
}

class Gauge {
  private value = 0;
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(v: number): void {
    this.value = v;
  }
  get(): number {
    return this.value;
  }
  render(): string[] {
    return [...header(this.name, this.help, 'gauge'), `${this.name} ${this.value}`];
  }
}

/** Cumulative buckets, _sum and _count per label set, as Prometheus histograms are. */
class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; n: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}
  observe(value: number, labels: Labels = {}): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, n: 0 }));
    this.buckets.forEach((le, i) => {
      if (value <= le) s.counts[i]!++;
    });
    s.sum += value;
    s.n++;
  }
  count(labels: Labels = {}): number {
    return this.series.get(labelText(labels))?.n ?? 0;
  }
  render(): string[] {
    const lines = header(this.name, this.help, 'histogram');
    for (const s of this.series.values()) {
      this.buckets.forEach((le, i) => {
        lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(le) })} ${s.counts[i]}`);
      });
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.n}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.n}`);
    }
    return lines;
  }
}

/** Gauges that describe the present, read from whoever knows it (the daemon's status board). */
export interface LiveReadings {
  queueLength: number;
  /** Seconds since the running execution started; 0 when none runs. */
  claimAgeSeconds: number;
  /** Seconds since each open preview was last confirmed current, by request. */
  previewAgeSeconds: Record<string, number>;
}

const SECONDS_BUCKETS = [0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600];

export class Metrics {
  readonly passes = new Counter('reexport_passes_total', 'Reconcile passes, by result (ok, error).');
  readonly previews = new Counter(
    'reexport_previews_total',
    'Preview reports committed, by state (previewed, invalid, refused).',
  );
  readonly executions = new Counter(
    'reexport_executions_total',
    'Executions, by result (executed, partial, interrupted, refused, invalid, failed).',
  );
  readonly changes = new Counter(
    'reexport_changes_total',
    'Attribute changes executed, by outcome (applied, already-applied, stale, failed, skipped).',
  );
  readonly errors = new Counter('reexport_errors_total', 'Errors, by kind (pass, branch, request).');
  readonly sourceChecks = new Counter(
    'reexport_source_checks_total',
    "Source files validated in passes, by how: parsed, or remembered (the file's bytes unchanged since this daemon checked them).",
  );
  readonly lastPassOk = new Gauge(
    'reexport_last_pass_success',
    '1 when the last reconcile pass succeeded, 0 when it failed.',
  );
  readonly lastPassTime = new Gauge(
    'reexport_last_pass_timestamp_seconds',
    'Unix time when the last reconcile pass ended.',
  );
  readonly passDuration = new Histogram(
    'reexport_pass_duration_seconds',
    'Duration of reconcile passes.',
    SECONDS_BUCKETS,
  );
  readonly directoryRead = new Histogram(
    'reexport_directory_read_seconds',
    'Time to read a target directory for one preview or execution, by target.',
    SECONDS_BUCKETS,
  );
  private live: () => LiveReadings = () => ({ queueLength: 0, claimAgeSeconds: 0, previewAgeSeconds: {} });

  /** Where the present-state gauges come from. */
  readLive(source: () => LiveReadings): void {
    this.live = source;
  }

  render(): string {
    const live = this.live();
    const lines = [
      this.passes,
      this.previews,
      this.executions,
      this.changes,
      this.lastPassOk,
      this.lastPassTime,
      this.passDuration,
      this.directoryRead,
      this.errors,
    ].flatMap((m) => m.render());
    lines.push(
      ...header(
        'reexport_queue_length',
        'Merged requests waiting for execution, the running one included.',
        'gauge',
      ),
      `reexport_queue_length ${live.queueLength}`,
      ...header(
        'reexport_execution_claim_age_seconds',
        'Seconds since the running execution started (its claim); 0 when none runs.',
        'gauge',
      ),
      `reexport_execution_claim_age_seconds ${live.claimAgeSeconds}`,
      ...header(
        'reexport_preview_age_seconds',
        'Seconds since the open preview of a request was last confirmed current, by request.',
        'gauge',
      ),
      ...Object.entries(live.previewAgeSeconds).map(
        ([request, s]) => `reexport_preview_age_seconds${labelText({ request })} ${s}`,
      ),
    );
    return `${lines.join('\n')}\n`;
  }
}
