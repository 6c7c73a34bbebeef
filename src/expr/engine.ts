import { createRequire } from 'node:module';
import type * as LiquidModule from 'liquidjs';
import type { Liquid, Template } from 'liquidjs';
import { compileFastPath, type FastRender } from './fast-path.js';
import { OWN_FILTERS, str } from './filters.js';
import { closest } from '../shared/closest.js';

/**
 * Source expressions are Liquid templates with no access to files, no JavaScript and hard limits on
 * parse and render cost, so a pull request can compute values but never run code or read files.
 */
const FORBIDDEN_TAGS = [
  'include',
  'render',
  'layout',
  'block',
  'tablerow',
  'cycle',
  'increment',
  'decrement',
];

const MEMORY_LIMIT = 1024 * 1024;
const PARSE_LIMIT = 64 * 1024;

/**
 * Liquid is loaded when an expression first needs it: most mappings are simple enough for the fast
 * path, and loading the engine is a fifth of a small preview's start-up.
 */
const loadLiquid = () => createRequire(import.meta.url)('liquidjs') as typeof LiquidModule;

function createLiquid(): Liquid {
  const { Liquid, Tag } = loadLiquid();
  const liquid = new Liquid({
    templates: {},
    strictFilters: true,
    strictVariables: false,
    ownPropertyOnly: true,
    jsTruthy: false,
    parseLimit: PARSE_LIMIT,
    renderLimit: RENDER_LIMIT_MS,
    memoryLimit: MEMORY_LIMIT,
    cache: false,
  });
  for (const name of FORBIDDEN_TAGS) {
    liquid.registerTag(
      name,
      class extends Tag {
        constructor(...args: ConstructorParameters<typeof Tag>) {
          super(...args);
          throw new Error(`the tag \`${name}\` is not available in source expressions`);
        }
        override *render(): Generator<unknown, void, unknown> {}
      },
    );
  }
  for (const [name, fn] of Object.entries(OWN_FILTERS)) liquid.registerFilter(name, fn);
  return liquid;
}

let shared: Liquid | undefined;
const engine = () => (shared ??= createLiquid());

/** One compiled expression: a static text, a simple expression (fast path), or a parsed template. */
export interface CompiledExpression {
  text: string;
  /** Plain text, rendered as it is. */
  static?: true;
  /** The parsed Liquid template; for a simple expression made when a record first needs it. */
  template?: Template[];
  /** Top-level source fields it reads. */
  fields: string[];
  /**
   * For a Liquid template, every top-level name it reads, locals included: a name assigned only
   * in a branch not taken (`{% if a %}{% assign b = 1 %}{% endif %}{{ b }}`) is a field when read.
   */
  names?: string[];
  /** The same render without Liquid's machinery, for the simple shapes (fast-path.ts). */
  fast?: FastRender;
  /** The time its Liquid renders may take, shared with the plan's other expressions. */
  budget?: RenderBudget;
}

/**
 * What a plan's Liquid renders took, in all. Each render stops after RENDER_LIMIT_MS, but a
 * template may hold a hundred expressions per mapping and a plan a hundred thousand users: a
 * loop over a long range in each (a quarter of a second, within every limit) blocked the
 * daemon for minutes, long enough to lose its workdir lock. Once the renders have taken
 * BUDGET_MS at more than AVERAGE_MS each, the plan's remaining renders fail (evaluation errors,
 * located by user and attribute) instead. Real expressions take microseconds.
 */
export interface RenderBudget {
  spentMs: number;
  renders: number;
  /** BUDGET_MS but in tests. */
  limitMs: number;
}
const RENDER_LIMIT_MS = 100;
const BUDGET_MS = 10_000;
const AVERAGE_MS = 1;

export function renderBudget(limitMs = BUDGET_MS): RenderBudget {
  return { spentMs: 0, renders: 0, limitMs };
}

export function isStatic(text: string): boolean {
  return !text.includes('{{') && !text.includes('{%');
}

/** Compiles one expression; throws with a message (and offset) for a syntax error or unknown filter. */
export function compileExpression(text: string): CompiledExpression {
  if (isStatic(text)) return { text, static: true, fields: [] };
  // The fast path accepts only a strict subset of Liquid (known filters, literal arguments), all valid.
  const simple = compileFastPath(text, { memory: MEMORY_LIMIT, parse: PARSE_LIMIT });
  if (simple) return { text, fields: simple.fields, fast: simple.render };
  const template = engine().parse(text);
  // One analysis for both lists (what globalVariableSegmentsSync gives, by the first segment).
  const analysis = engine().analyzeSync(template);
  const fields = [
    ...new Set(Object.values(analysis.globals).flatMap((vs) => vs.map((v) => String(v.toArray()[0])))),
  ];
  const names = [...new Set([...fields, ...Object.keys(analysis.variables)])];
  return { text, template, fields, names };
}

/** A problem in one expression, located relative to the expression's text. */
export interface ExpressionProblem {
  message: string;
  /** 0-based offset in the expression text, when known. */
  offset?: number;
}

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
    const guess = closest(filter[1]!, AVAILABLE_FILTERS.split(', '));
    message = `unknown filter \`${filter[1]}\`${guess ? `; did you mean \`${guess}\`?` : ''} (available: ${AVAILABLE_FILTERS})`;
    const at = new RegExp(`\\|\\s*${filter[1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).exec(text);
    if (at) offset = at.index + at[0].length - filter[1]!.length;
  } else {
    message = `expression: ${message}`;
  }
  return { message, offset };
}

export const AVAILABLE_FILTERS =
  'ascii, lower, upper, downcase, upcase, capitalize, trim, strip, collapse, truncate, fallback, default, replace, replace_first, remove, prepend, append, split, join, first, last, slice, size';

/** Renders a compiled expression for one record. The result is trimmed: edge whitespace is never meant. */
export function renderExpression(expr: CompiledExpression, record: Record<string, unknown>): string {
  if (expr.static) return expr.text;
  const fast = expr.fast?.(record);
  if (fast !== undefined) return fast.trim();
  expr.template ??= engine().parse(expr.text);
  const budget = expr.budget;
  if (!budget) return str(engine().renderSync(expr.template, record)).trim();
  if (budget.spentMs > budget.limitMs && budget.spentMs > budget.renders * AVERAGE_MS) {
    throw new Error(
      `the template's expressions took ${Math.round(budget.spentMs / 1000)} s for ${budget.renders} evaluations, more than ${AVERAGE_MS} ms each; the rest are not evaluated: simplify them (a loop over a long range?)`,
    );
  }
  const started = performance.now();
  try {
    return str(engine().renderSync(expr.template, record)).trim();
  } finally {
    budget.spentMs += performance.now() - started;
    budget.renders++;
  }
}
