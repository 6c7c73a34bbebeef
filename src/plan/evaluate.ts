import type { Mapping, SyncTemplate } from '../config/types.generated.js';
import {
  type CompiledExpression,
  compileExpression,
  renderBudget,
  renderExpression,
} from '../expr/engine.js';
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
  // One budget for the whole plan's Liquid renders (see RenderBudget).
  const budget = renderBudget();
  return selectedMappings(template, selected).map((mapping) => {
    const sources = Array.isArray(mapping.source) ? mapping.source : [mapping.source];
    const expressions = sources.map((text) => ({ ...compileExpression(text), budget }));
    return {
      mapping,
      attribute: mapping.target,
      expressions,
      fields: [...new Set(expressions.flatMap((e) => e.fields))],
    };
  });
}

/** The template's mappings a request selects (by target attribute, case-insensitively), in template order. */
export function selectedMappings(
  template: SyncTemplate,
  selected: 'all' | readonly string[],
): Array<SyncTemplate['spec']['mappings'][number]> {
  const wanted = selected === 'all' ? undefined : new Set(selected.map((s) => s.toLowerCase()));
  return template.spec.mappings.filter((m) => !wanted || wanted.has(m.target.toLowerCase()));
}

export type Evaluation = { values: string[] } | { error: string };

/**
 * C0 control characters other than tab (and DEL) have no place in a directory value: a NUL is
 * written by LDAP as data, cuts strings in other tools and makes preview.md binary in Git.
 */
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

export function evaluateMapping(m: CompiledMapping, fields: Record<string, unknown>): Evaluation {
  let values: string[];
  try {
    values =
      m.expressions.length === 1
        ? normalizeValues([renderExpression(m.expressions[0]!, fields)])
        : normalizeValues(m.expressions.map((e) => renderExpression(e, fields)));
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0]! };
  }
  for (const v of values) {
    const bad = CONTROL.exec(v);
    if (bad) {
      const code = bad[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase();
      return {
        error: `the value has the control character U+${code} at position ${bad.index + 1}; remove it from the source or the expression`,
      };
    }
  }
  return { values };
}
