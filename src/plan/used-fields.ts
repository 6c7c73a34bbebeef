import type { ConfigRepo } from '../config/config-repo.js';
import type { SyncTemplate } from '../config/types.generated.js';
import { compileExpression } from '../expr/engine.js';

/**
 * The fields of a source that a checkout's plans and executions can read: its ID, every using
 * template's match field and the fields its mappings read, and the fields its requests select
 * users by. A source keeps only these in memory: an HR export of 30 columns of which 4 are
 * mapped is mostly values nobody reads (at 100,000 users, some 50 MB of a preview's memory).
 * Undefined, every field then kept, when that cannot be known: an expression with a `[` can read a
 * field whose name it computes (`{{ [name] }}`, which Liquid's analysis of a template leaves
 * out); a broken template is checked as far as it can be, whatever it reads. Without a `[`,
 * every name a template reads is written in it (tags that could read another file or template
 * are refused at parse): Liquid's list of them, locals included, since a local assigned only in
 * a branch not taken is the record's field when read.
 */
export function usedFields(
  repo: Pick<ConfigRepo, 'templates' | 'requests'>,
  source: SyncTemplate['spec']['source'],
  idField: string,
): Set<string> | undefined {
  const key = JSON.stringify(source);
  const used = new Set([idField]);
  const templates = new Set<string>();
  for (const [name, file] of repo.templates) {
    // A template that fails its schema is still checked as far as it can be: keep everything.
    if (!file.value) return undefined;
    const { spec } = file.value;
    if (JSON.stringify(spec.source) !== key) continue;
    templates.add(name);
    used.add(spec.match.sourceField);
    for (const mapping of spec.mappings) {
      for (const text of Array.isArray(mapping.source) ? mapping.source : [mapping.source]) {
        let expression: ReturnType<typeof compileExpression>;
        try {
          expression = compileExpression(text);
        } catch {
          return undefined;
        }
        if (!expression.static && !expression.fast && text.includes('[')) return undefined;
        for (const f of expression.names ?? expression.fields) used.add(f);
      }
    }
  }
  for (const file of repo.requests.values()) {
    const spec = file.value?.spec;
    if (!spec || !templates.has(spec.template) || typeof spec.users !== 'object') continue;
    if ('where' in spec.users) for (const f of Object.keys(spec.users.where)) used.add(f);
  }
  return used;
}
