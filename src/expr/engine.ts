import { Liquid, Tag, type Template } from 'liquidjs';
import type { ExpressionProblem } from '../config/rules.js';
import { ascii } from './ascii.js';

/**
 * Source expressions are Liquid templates with no access to files, no JavaScript and hard limits on
 * parse and render cost, so a pull request can compute values but never run code or read files.
 */
const FORBIDDEN_TAGS = ['include', 'render', 'layout', 'block', 'tablerow', 'cycle', 'increment', 'decrement'];

function createLiquid(): Liquid {
  const liquid = new Liquid({
    templates: {},
    strictFilters: true,
    strictVariables: false,
    ownPropertyOnly: true,
    jsTruthy: false,
    parseLimit: 64 * 1024,
    renderLimit: 1000,
    memoryLimit: 1024 * 1024,
    cache: false,
  });
  for (const name of FORBIDDEN_TAGS) {
    liquid.registerTag(name, class extends Tag {
      constructor(...args: ConstructorParameters<typeof Tag>) {
        super(...args);
        throw new Error(`the tag \`${name}\` is not available in source expressions`);
      }
      override *render(): Generator<unknown, void, unknown> {}
    });
  }
  liquid.registerFilter('ascii', ascii);
  liquid.registerFilter('lower', (v: unknown) => str(v).toLowerCase());
  liquid.registerFilter('upper', (v: unknown) => str(v).toUpperCase());
  liquid.registerFilter('trim', (v: unknown) => str(v).trim());
  // Directory values never want repeated or edge whitespace, e.g. from hand-typed HR data.
  liquid.registerFilter('collapse', (v: unknown) => str(v).replace(/\s+/gu, ' ').trim());
  // Liquid's own truncate appends "..." inside the limit; a directory value wants a clean cut
  // (sAMAccountName's 20 characters). An explicit second argument still adds a marker.
  liquid.registerFilter('truncate', (v: unknown, length: unknown = 50, marker: unknown = '') => {
    const s = [...str(v)];
    const n = Math.max(0, Number(length) || 0);
    if (s.length <= n) return s.join('');
    const m = [...str(marker)];
    return s.slice(0, Math.max(0, n - m.length)).join('') + m.join('');
  });
  liquid.registerFilter('fallback', (v: unknown, ...alternatives: unknown[]) =>
    [v, ...alternatives].map(str).find((s) => s.trim() !== '') ?? '');
  return liquid;
}

const str = (v: unknown): string => (v == null ? '' : String(v));

let shared: Liquid | undefined;
const engine = () => (shared ??= createLiquid());

/** One compiled expression: either a static text or a parsed template. */
export interface CompiledExpression {
  text: string;
  template?: Template[];
  /** Top-level source fields it reads. */
  fields: string[];
}

export function isStatic(text: string): boolean {
  return !text.includes('{{') && !text.includes('{%');
}

/** Compiles one expression; throws with a message (and offset) for a syntax error or unknown filter. */
export function compileExpression(text: string): CompiledExpression {
  if (isStatic(text)) return { text, fields: [] };
  const template = engine().parse(text);
  const fields = [...new Set(engine().globalVariableSegmentsSync(template).map((s) => String(s[0])))];
  return { text, template, fields };
}

/** For validation: every problem in one expression, located by offset in its text. */
export function checkExpression(text: string): ExpressionProblem[] {
  try {
    compileExpression(text);
    return [];
  } catch (err) {
    return [describeLiquidError(err, text)];
  }
}

function describeLiquidError(err: unknown, text: string): ExpressionProblem {
  const e = err as { message?: string; token?: { begin?: number }; originalError?: Error };
  let message = (e.originalError?.message ?? e.message ?? String(err)).split(', line:')[0]!.trim();
  const filter = /undefined filter: (\S+)/.exec(message);
  let offset = typeof e.token?.begin === 'number' && e.token.begin <= text.length ? e.token.begin : undefined;
  if (filter) {
    message = `unknown filter \`${filter[1]}\`; available: ${AVAILABLE_FILTERS}`;
    const at = new RegExp(`\\|\\s*${filter[1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).exec(text);
    if (at) offset = at.index + at[0].length - filter[1]!.length;
  } else {
    message = `expression: ${message}`;
  }
  return { message, offset };
}

export const AVAILABLE_FILTERS = 'ascii, lower, upper, downcase, upcase, capitalize, trim, strip, collapse, truncate, fallback, default, replace, replace_first, remove, prepend, append, split, join, first, last, slice, size';

/** Renders a compiled expression for one record. The result is trimmed: edge whitespace is never meant. */
export function renderExpression(expr: CompiledExpression, record: Record<string, unknown>): string {
  if (!expr.template) return expr.text;
  return str(engine().renderSync(expr.template, record)).trim();
}
