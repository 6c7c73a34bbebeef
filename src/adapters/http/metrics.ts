/**
 * The few metrics an operator alerts on, in Prometheus' text format. Hand-written because the
 * set is small and fixed; a client library would bring a registry we do not need.
 */
type Labels = Record<string, string>;

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
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
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
  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.value}`];
  }
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

export class Metrics {
  readonly passes = new Counter('reexport_passes_total', 'Reconcile passes, by result (ok, error).');
  readonly passSeconds = new Counter(
    'reexport_pass_duration_seconds_sum',
    'Total seconds spent in reconcile passes.',
  );
  readonly previews = new Counter(
    'reexport_previews_total',
    'Preview reports committed, by state (previewed, invalid).',
  );
  readonly executions = new Counter(
    'reexport_executions_total',
    'Executions, by result (executed, interrupted, refused, invalid).',
  );
  readonly changes = new Counter('reexport_changes_total', 'Attribute changes executed, by outcome.');
  readonly errors = new Counter('reexport_errors_total', 'Errors, by kind.');
  readonly lastPassOk = new Gauge('reexport_last_pass_success', '1 when the last reconcile pass succeeded.');
  readonly lastPassTime = new Gauge(
    'reexport_last_pass_timestamp_seconds',
    'When the last reconcile pass ended.',
  );

  render(): string {
    const all = [
      this.passes,
      this.passSeconds,
      this.previews,
      this.executions,
      this.changes,
      this.errors,
      this.lastPassOk,
      this.lastPassTime,
    ];
    return `${all.flatMap((m) => m.render()).join('\n')}\n`;
  }
}
