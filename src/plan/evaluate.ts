import type { Mapping, SyncTemplate } from '../config/types.generated.js';
import { type CompiledExpression, compileExpression, renderExpression } from '../expr/engine.js';
import { normalizeValues } from './values.js';

export interface CompiledMapping {
  mapping: Mapping;
  attribute: string;
  expressions: CompiledExpression[];
  fields: string[];
}

/** Compiles the mappings a request selects, once per plan, in the template's order. */
export function compileMappings(
  template: SyncTemplate,
  selected: 'all' | readonly string[],
): CompiledMapping[] {
  const wanted = selected === 'all' ? undefined : new Set(selected.map((s) => s.toLowerCase()));
  return template.spec.mappings
    .filter((m) => !wanted || wanted.has(m.target.toLowerCase()))
    .map((mapping) => {
      const sources = Array.isArray(mapping.source) ? mapping.source : [mapping.source];
      const expressions = sources.map(compileExpression);
      return {
        mapping,
        attribute: mapping.target,
        expressions,
        fields: [...new Set(expressions.flatMap((e) => e.fields))],
      };
    });
}

export type Evaluation = { values: string[] } | { error: string };

export function evaluateMapping(m: CompiledMapping, fields: Record<string, unknown>): Evaluation {
  try {
    if (m.expressions.length === 1)
      return { values: normalizeValues([renderExpression(m.expressions[0]!, fields)]) };
    return { values: normalizeValues(m.expressions.map((e) => renderExpression(e, fields))) };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0]! };
  }
}
