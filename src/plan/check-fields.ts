import type { RepoFile } from '../config/config-repo.js';
import type { Diagnostic } from '../shared/diagnostics.js';
import { closest } from '../config/schema-errors.js';
import type { ReexportRequest, SyncTemplate } from '../config/types.generated.js';
import { locate } from '../config/yaml-file.js';
import { compileMappings } from './evaluate.js';

/**
 * Fields that no source record has are typos until proven otherwise: without this check a
 * misspelt field renders empty and onEmpty: clear would wipe an attribute for every user.
 */
export function checkSourceFields(
  template: RepoFile<SyncTemplate>,
  request: RepoFile<ReexportRequest>,
  fields: ReadonlySet<string>,
  sourceName: string,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  const known = [...fields];
  const t = template.value!;
  const mappings = compileMappings(t, request.value!.spec.mappings);
  for (const m of mappings) {
    const index = t.spec.mappings.indexOf(m.mapping);
    for (const f of m.fields) {
      if (fields.has(f)) continue;
      const guess = closest(f, known);
      out.push({
        file: template.file,
        ...locate(template.yaml!, ['spec', 'mappings', index, 'source']),
        message: `mapping \`${m.attribute}\` reads the field \`${f}\`, which no record of ${sourceName} has${guess ? `; did you mean \`${guess}\`?` : ` (fields: ${known.join(', ')})`}`,
      });
    }
  }
  if (!fields.has(t.spec.match.sourceField)) {
    out.push({
      file: template.file,
      ...locate(template.yaml!, ['spec', 'match', 'sourceField']),
      message: `match.sourceField \`${t.spec.match.sourceField}\` is not a field of ${sourceName} (fields: ${known.join(', ')})`,
    });
  }
  const users = request.value!.spec.users;
  if (typeof users === 'object' && 'where' in users) {
    for (const f of Object.keys(users.where)) {
      if (!fields.has(f)) {
        const guess = closest(f, known);
        out.push({
          file: request.file,
          ...locate(request.yaml!, ['spec', 'users', 'where', f], 'key'),
          message: `\`${f}\` is not a field of ${sourceName}${guess ? `; did you mean \`${guess}\`?` : ` (fields: ${known.join(', ')})`}`,
        });
      }
    }
  }
  return out;
}
