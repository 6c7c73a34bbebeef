import type { RepoFile } from '../config/config-repo.js';
import type { Diagnostic } from '../shared/diagnostics.js';
import { closest } from '../shared/closest.js';
import type { Mapping, ReexportRequest, SyncTemplate } from '../config/types.generated.js';
import { locate, type PathSegment } from '../config/yaml-file.js';
import { type CompiledExpression, compileExpression } from '../expr/engine.js';
import { idKey, type SourceData } from '../source/records.js';
import { type CompiledMapping, evaluateMapping } from './evaluate.js';

/** The source facts these checks need: its name for messages, the fields its records have, its ID keys. */
export interface SourceFacts {
  name: string;
  fields: ReadonlySet<string>;
  /** idKey of every record's ID; without it `ids` are not checked. */
  ids?: Pick<ReadonlySet<string>, 'has'>;
}

/**
 * Fields that no source record has are typos until proven otherwise: without this check a
 * misspelt field renders empty and onEmpty: clear would wipe an attribute for every user.
 * The preview (one request's mappings) and validate (every mapping) both run it.
 */
export function checkSourceFields(
  template: RepoFile<SyncTemplate>,
  request: RepoFile<ReexportRequest>,
  fields: ReadonlySet<string>,
  sourceName: string,
): Diagnostic[] {
  const source = { name: sourceName, fields };
  return [
    ...checkTemplateFields(template, source, request.value!.spec.mappings),
    ...checkRequestFields(request, source),
  ];
}

/** Fields the template's expressions and match read, against the source's fields. */
export function checkTemplateFields(
  template: RepoFile<SyncTemplate>,
  source: SourceFacts,
  selected: 'all' | readonly string[] = 'all',
): Diagnostic[] {
  const out: Diagnostic[] = [];
  const known = [...source.fields];
  const t = template.value!;
  const wanted = selected === 'all' ? undefined : new Set(selected.map((s) => s.toLowerCase()));
  t.spec.mappings.forEach((m, index) => {
    if (wanted && !wanted.has(m.target.toLowerCase())) return;
    for (const { expr, path } of expressionsOf(m, index)) {
      for (const f of expr?.fields ?? []) {
        if (source.fields.has(f)) continue;
        out.push({
          file: template.file,
          ...locate(template.yaml!, path),
          message: `mapping \`${m.target}\` reads the field \`${f}\`, which no record of ${source.name} has${didYouMean(f, known)}`,
        });
      }
    }
  });
  if (!source.fields.has(t.spec.match.sourceField)) {
    out.push({
      file: template.file,
      ...locate(template.yaml!, ['spec', 'match', 'sourceField']),
      message: `match.sourceField \`${t.spec.match.sourceField}\` is not a field of ${source.name}${didYouMean(t.spec.match.sourceField, known)}`,
    });
  }
  return out;
}

/** Fields in `users.where`, against the source; with the records, `ids` the source lacks (warnings). */
export function checkRequestFields(request: RepoFile<ReexportRequest>, source: SourceFacts): Diagnostic[] {
  const out: Diagnostic[] = [];
  const known = [...source.fields];
  const users = request.value!.spec.users;
  if (typeof users === 'object' && 'where' in users) {
    for (const f of Object.keys(users.where)) {
      if (source.fields.has(f)) continue;
      out.push({
        file: request.file,
        ...locate(request.yaml!, ['spec', 'users', 'where', f], 'key'),
        message: `\`${f}\` is not a field of ${source.name}${didYouMean(f, known)}`,
      });
    }
  }
  const keys = source.ids;
  if (typeof users === 'object' && 'ids' in users && keys) {
    users.ids.forEach((id, i) => {
      if (keys.has(idKey(id))) return;
      out.push({
        file: request.file,
        ...locate(request.yaml!, ['spec', 'users', 'ids', i]),
        message: `user ID \`${id}\` is not in ${source.name}; the preview will list it as not found`,
        severity: 'warning',
      });
    });
  }
  return out;
}

/** A failing expression is reported once per mapping, with a few records, not once per user. */
const MAX_EVALUATION_ERRORS = 5;

/**
 * Renders every mapping on every record, as the planner will, so an evaluation error is found
 * before the preview, located at the record's line in the data file.
 */
export function dryRun(template: RepoFile<SyncTemplate>, source: SourceData): Diagnostic[] {
  const out: Diagnostic[] = [];
  template.value!.spec.mappings.forEach((mapping, index) => {
    const compiled = expressionsOf(mapping, index).map((e) => e.expr);
    if (compiled.some((e) => e === undefined)) return;
    const m: CompiledMapping = {
      mapping,
      attribute: mapping.target,
      expressions: compiled as CompiledExpression[],
      fields: [],
    };
    let failed = 0;
    for (const record of source.records) {
      const result = evaluateMapping(m, record.fields);
      // The planner's own evaluation: whatever it calls an evaluation error, this reports.
      if (!('error' in result)) continue;
      const error = result.error;
      failed++;
      if (failed > MAX_EVALUATION_ERRORS) continue;
      const at = /^(.*):(\d+)$/.exec(record.origin);
      out.push({
        file: at ? at[1]! : source.name,
        line: at ? Number(at[2]) : 1,
        col: 1,
        message: `mapping \`${mapping.target}\` of ${template.file} fails for record ${record.id}: ${error}`,
      });
    }
    if (failed > MAX_EVALUATION_ERRORS) {
      out.push({
        file: template.file,
        ...locate(template.yaml!, ['spec', 'mappings', index, 'source']),
        message: `mapping \`${mapping.target}\` fails for ${failed} records of ${source.name} (the first ${MAX_EVALUATION_ERRORS} are listed at their lines)`,
      });
    }
  });
  return out;
}

/** Each expression of a mapping, compiled (undefined when it does not compile: reported elsewhere). */
function expressionsOf(m: Mapping, index: number): Array<{ expr?: CompiledExpression; path: PathSegment[] }> {
  const list = Array.isArray(m.source) ? m.source : [m.source];
  return list.map((text, j) => {
    const path: PathSegment[] = Array.isArray(m.source)
      ? ['spec', 'mappings', index, 'source', j]
      : ['spec', 'mappings', index, 'source'];
    try {
      return { expr: compileExpression(text), path };
    } catch {
      return { path };
    }
  });
}

function didYouMean(word: string, known: readonly string[]): string {
  const guess = closest(word, known);
  return guess ? `; did you mean \`${guess}\`?` : ` (fields: ${known.join(', ')})`;
}
