import type { ExpressionProblem } from '../expr/engine.js';
import { FilterParser } from 'ldapts';
import { isDnWithin, parseDn } from '../syntax/dn.js';
import type { ConfigRepo, RepoFile } from './config-repo.js';
import type { LoadedDaemonConfig } from './daemon-config.js';
import type { Diagnostic } from '../shared/diagnostics.js';
import { resolveRepoPath } from './repo-path.js';
import { closest } from './schema-errors.js';
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

async function templateRules(ctx: RuleContext, t: RepoFile<SyncTemplate>): Promise<void> {
  const spec = t.value?.spec;
  if (!spec || !t.yaml) return;
  const yaml = t.yaml;
  const at = (p: PathSegment[], message: string, which: 'value' | 'key' = 'value') =>
    t.diagnostics.push({ file: t.file, ...locate(yaml, p, which), message });
  const daemon = ctx.daemon?.config;

  if (daemon && !daemon.targets[spec.target]) {
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
  } else {
    const resolved = await resolveRepoPath(ctx.repo.root, spec.source.file);
    if (resolved.error) at(['spec', 'source', 'file'], `source file ${resolved.error}`);
    else if (!spec.source.format && !/\.(csv|json|ya?ml)$/i.test(spec.source.file)) {
      at(
        ['spec', 'source', 'file'],
        'cannot tell the format from the file name; name it .csv, .json or .yaml, or add format: csv|json|yaml',
      );
    }
  }

  try {
    parseDn(spec.scope.baseDN);
    const bases = daemon?.targets[spec.target]?.baseDNs;
    if (bases && !bases.some((b) => isDnWithin(spec.scope.baseDN, b))) {
      at(
        ['spec', 'scope', 'baseDN'],
        `baseDN is outside what target \`${spec.target}\` allows (${bases.join('; ')}); choose a baseDN at or under one of them`,
      );
    }
  } catch (err) {
    at(['spec', 'scope', 'baseDN'], `scope.baseDN: ${(err as Error).message}`);
  }
  if (spec.scope.filter) {
    try {
      // ldapts quietly closes a missing final parenthesis; a reviewer should see the typo instead.
      const depth = [...spec.scope.filter].reduce((d, c) => d + (c === '(' ? 1 : c === ')' ? -1 : 0), 0);
      if (depth !== 0) throw new Error('unbalanced parentheses');
      FilterParser.parseString(spec.scope.filter);
    } catch (err) {
      at(
        ['spec', 'scope', 'filter'],
        `scope.filter \`${spec.scope.filter}\` is not a valid LDAP filter (${(err as Error).message}); e.g. (&(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))`,
      );
    }
  }

  const allowed = daemon?.targets[spec.target]?.allowedAttributes;
  const allowedLower = new Set(allowed?.map((a) => a.toLowerCase()));
  const seen = new Map<string, number>();
  spec.mappings.forEach((m, i) => {
    const key = m.target.toLowerCase();
    const prior = seen.get(key);
    if (prior !== undefined)
      at(
        ['spec', 'mappings', i, 'target'],
        `attribute \`${m.target}\` is already mapped by mapping ${prior + 1}; keep one mapping per attribute`,
      );
    seen.set(key, i);
    if (key === spec.match.targetAttribute.toLowerCase()) {
      at(
        ['spec', 'mappings', i, 'target'],
        `\`${m.target}\` is the match attribute; a template must not rewrite the attribute it finds users by`,
      );
    } else if (allowed && !allowedLower.has(key)) {
      at(
        ['spec', 'mappings', i, 'target'],
        `attribute \`${m.target}\` is not in the allowedAttributes of target \`${spec.target}\` (${allowed.join(', ')}); remove the mapping or ask the operator to allow it`,
      );
    }
    if (ctx.checkExpression) {
      const sources = Array.isArray(m.source) ? m.source : [m.source];
      sources.forEach((src, j) => {
        const path: PathSegment[] = Array.isArray(m.source)
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
  });
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
  if (!template.value) {
    at(['spec', 'template'], `template \`${spec.template}\` has errors (see ${template.file}); fix it first`);
    return;
  }
  if (spec.mappings !== 'all') {
    const targets = template.value.spec.mappings.map((m) => m.target);
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

/** What a request's status shows: its own problems and those of the template it uses. */
export function diagnosticsForRequest(repo: ConfigRepo, name: string): Diagnostic[] {
  const r = repo.requests.get(name);
  if (!r) return [];
  const t = r.value ? repo.templates.get(r.value.spec.template) : undefined;
  return [...r.diagnostics, ...(t?.diagnostics ?? [])];
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((m) => typeof m === 'string');
}
