import type { ExpressionProblem } from '../expr/engine.js';
import { DnSyntaxError, isDnWithin, parseDn } from '../syntax/dn.js';
import { FilterSyntaxError, parseFilter } from '../syntax/filter.js';
import type { ConfigRepo, RepoFile } from './config-repo.js';
import type { LoadedDaemonConfig } from './daemon-config.js';
import { type Diagnostic, isError } from '../shared/diagnostics.js';
import { resolveRepoPath } from './repo-path.js';
import { closest } from '../shared/closest.js';
import type { ReexportRequest, SyncTemplate } from './types.generated.js';
import { locate, type PathSegment } from './yaml-file.js';

export interface RuleContext {
  repo: ConfigRepo;
  /** Without it, rules about targets and sources are skipped (e.g. in a Git host's CI job). */
  daemon?: LoadedDaemonConfig;
  /** Checks one expression; returns located problems relative to the expression's text. */
  checkExpression?: (source: string) => ExpressionProblem[];
}

/** Stage two: rules that need context. Adds diagnostics to the files they concern. */
export async function applyRules(ctx: RuleContext): Promise<void> {
  for (const t of ctx.repo.templates.values()) await templateRules(ctx, t);
  for (const r of ctx.repo.requests.values()) requestRules(ctx, r);
}

/** The parts of a template the rules read, as far as they are well-formed (the schema may have failed). */
interface RawTemplate {
  target?: string;
  source?: string | { file?: unknown; format?: unknown };
  matchAttribute?: string;
  baseDN?: string;
  filter?: string;
  mappings: Array<{ index: number; target?: string; source?: string | unknown[] }>;
}

/** Reads a template's fields defensively, so one schema error never hides the other rules' findings. */
export function rawTemplate(t: RepoFile<SyncTemplate>): RawTemplate | undefined {
  const spec = ((t.value ?? t.yaml?.value) as { spec?: unknown } | undefined)?.spec;
  if (!isObject(spec)) return undefined;
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const match = isObject(spec.match) ? spec.match : {};
  const scope = isObject(spec.scope) ? spec.scope : {};
  const source = spec.source;
  return {
    target: text(spec.target),
    source: typeof source === 'string' ? source : isObject(source) ? source : undefined,
    matchAttribute: text(match.targetAttribute),
    baseDN: text(scope.baseDN),
    filter: text(scope.filter),
    mappings: (Array.isArray(spec.mappings) ? spec.mappings : []).map((m: unknown, index) => {
      const o = isObject(m) ? m : {};
      const src = o.source;
      return {
        index,
        target: text(o.target),
        source: typeof src === 'string' || Array.isArray(src) ? src : undefined,
      };
    }),
  };
}

async function templateRules(ctx: RuleContext, t: RepoFile<SyncTemplate>): Promise<void> {
  const spec = rawTemplate(t);
  if (!spec || !t.yaml) return;
  const yaml = t.yaml;
  const at = (p: PathSegment[], message: string, which: 'value' | 'key' = 'value') =>
    t.diagnostics.push({ file: t.file, ...locate(yaml, p, which), message });
  const daemon = ctx.daemon?.config;
  const target = spec.target !== undefined ? daemon?.targets[spec.target] : undefined;

  if (daemon && spec.target !== undefined && !target) {
    at(
      ['spec', 'target'],
      `target \`${spec.target}\` is not defined in the daemon config${suggest(spec.target, Object.keys(daemon.targets))}`,
    );
  }
  if (typeof spec.source === 'string') {
    if (daemon && !daemon.sources?.[spec.source]) {
      at(
        ['spec', 'source'],
        `source \`${spec.source}\` is not defined in the daemon config${suggest(spec.source, Object.keys(daemon.sources ?? {}))}, or use { file: data/…, id: … } for a file in this repository`,
      );
    }
  } else if (typeof spec.source?.file === 'string') {
    const file = spec.source.file;
    const resolved = await resolveRepoPath(ctx.repo.root, file);
    if (resolved.error) at(['spec', 'source', 'file'], `source file ${resolved.error}`);
    else if (!spec.source.format && !/\.(csv|json|ya?ml)$/i.test(file)) {
      at(
        ['spec', 'source', 'file'],
        'cannot tell the format from the file name; name it .csv, .json or .yaml, or add format: csv|json|yaml',
      );
    }
  }

  if (spec.baseDN !== undefined) {
    const baseDN = spec.baseDN;
    // The runtime's DN parser: what validation accepts, a preview can use.
    try {
      parseDn(baseDN);
      const bases = target?.baseDNs;
      if (bases && !bases.some((b) => isDnWithin(baseDN, b))) {
        at(
          ['spec', 'scope', 'baseDN'],
          `baseDN is outside what target \`${spec.target}\` allows (${bases.join('; ')}); choose a baseDN at or under one of them`,
        );
      }
    } catch (err) {
      if (!(err instanceof DnSyntaxError)) throw err;
      at(['spec', 'scope', 'baseDN'], `scope.baseDN: ${err.message}`);
    }
  }
  if (spec.filter !== undefined) {
    // The runtime's filter parser, so a filter validate accepts is one a preview can send.
    try {
      parseFilter(spec.filter);
    } catch (err) {
      if (!(err instanceof FilterSyntaxError)) throw err;
      at(
        ['spec', 'scope', 'filter'],
        `scope.filter: ${err.message}; e.g. (&(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))`,
      );
    }
  }

  const allowed = target?.allowedAttributes;
  const allowedLower = new Set(allowed?.map((a) => a.toLowerCase()));
  const seen = new Map<string, number>();
  for (const m of spec.mappings) {
    const i = m.index;
    if (m.target !== undefined) {
      const key = m.target.toLowerCase();
      const prior = seen.get(key);
      if (prior !== undefined)
        at(
          ['spec', 'mappings', i, 'target'],
          `attribute \`${m.target}\` is already mapped by mapping ${prior + 1}; keep one mapping per attribute`,
        );
      seen.set(key, i);
      if (key === spec.matchAttribute?.toLowerCase()) {
        at(
          ['spec', 'mappings', i, 'target'],
          `\`${m.target}\` is the match attribute; a template must not rewrite the attribute it finds users by`,
        );
      } else if (allowed && !allowedLower.has(key)) {
        at(
          ['spec', 'mappings', i, 'target'],
          `attribute \`${m.target}\` is not in the allowedAttributes of target \`${spec.target}\` (${allowed.join(', ')})${suggest(m.target, allowed)}; remove the mapping or ask the operator to allow it`,
        );
      }
    }
    if (ctx.checkExpression && m.source !== undefined) {
      const list = Array.isArray(m.source);
      const sources = list ? (m.source as unknown[]) : [m.source];
      sources.forEach((src, j) => {
        if (typeof src !== 'string') return;
        const path: PathSegment[] = list
          ? ['spec', 'mappings', i, 'source', j]
          : ['spec', 'mappings', i, 'source'];
        for (const problem of ctx.checkExpression!(src)) {
          t.diagnostics.push({
            file: t.file,
            ...locateInScalar(t, path, src, problem.offset),
            message: problem.message,
          });
        }
      });
    }
  }
}

function requestRules(ctx: RuleContext, r: RepoFile<ReexportRequest>): void {
  // Runs on a file that failed its schema too, as far as the fields it needs are well-formed,
  // so a user sees every problem in one round.
  const raw = (r.value ?? r.yaml?.value) as { spec?: { template?: unknown; mappings?: unknown } } | undefined;
  const rawSpec = raw?.spec;
  if (!r.yaml || typeof rawSpec?.template !== 'string') return;
  const listed = rawSpec.mappings;
  const mappings: 'all' | string[] = isStringList(listed) ? listed : 'all';
  const spec = { template: rawSpec.template, mappings };
  const yaml = r.yaml;
  const at = (p: PathSegment[], message: string) =>
    r.diagnostics.push({ file: r.file, ...locate(yaml, p), message });
  const template = ctx.repo.templates.get(spec.template);
  if (!template) {
    at(
      ['spec', 'template'],
      `template \`${spec.template}\` does not exist (no templates/${spec.template}.yaml)${suggest(spec.template, [...ctx.repo.templates.keys()])}`,
    );
    return;
  }
  // A template with errors is reported once, at the template (and makes this request invalid through
  // diagnosticsForRequest); its well-formed mappings still answer for this request's list.
  const targets = (rawTemplate(template)?.mappings ?? []).flatMap((m) => (m.target ? [m.target] : []));
  if (spec.mappings !== 'all' && targets.length) {
    const lower = new Set(targets.map((t) => t.toLowerCase()));
    spec.mappings.forEach((m, i) => {
      if (!lower.has(m.toLowerCase())) {
        at(
          ['spec', 'mappings', i],
          `template \`${spec.template}\` has no mapping for \`${m}\`${suggest(m, targets)} (it maps ${targets.join(', ')}); or use mappings: all`,
        );
      }
    });
  }
}

/**
 * An expression's problem, located inside the YAML scalar. For plain and quoted single-line scalars
 * the column is exact; for block scalars, the scalar's start is the honest answer.
 */
function locateInScalar(
  file: RepoFile<unknown>,
  path: PathSegment[],
  src: string,
  offset: number | undefined,
) {
  const start = locate(file.yaml!, path);
  if (offset === undefined || src.includes('\n')) return start;
  const raw = file.yaml!.doc.getIn(path, true) as { type?: string } | undefined;
  const quoted = raw?.type === 'QUOTE_DOUBLE' || raw?.type === 'QUOTE_SINGLE' ? 1 : 0;
  return { line: start.line, col: start.col + quoted + offset };
}

function suggest(word: string, candidates: string[]): string {
  const guess = closest(word, candidates);
  return guess ? `; did you mean \`${guess}\`` : '';
}

export function collectDiagnostics(repo: ConfigRepo): Diagnostic[] {
  return [
    ...repo.diagnostics,
    ...[...repo.templates.values()].flatMap((t) => t.diagnostics),
    ...[...repo.requests.values()].flatMap((r) => r.diagnostics),
  ];
}

/**
 * What makes a request invalid: its own errors and those of the template it uses (which include the
 * template's source data file). Warnings are left out: they fail nothing.
 */
export function diagnosticsForRequest(repo: ConfigRepo, name: string): Diagnostic[] {
  const r = repo.requests.get(name);
  if (!r) return [];
  const t = r.value ? repo.templates.get(r.value.spec.template) : undefined;
  return [...r.diagnostics, ...(t?.diagnostics ?? [])].filter(isError);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((m) => typeof m === 'string');
}
