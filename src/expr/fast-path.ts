import { OWN_FILTERS, str } from './filters.js';

/**
 * Most mappings are text with `{{ field | filter: 'literal' … }}` outputs. For those, Liquid's
 * render machinery (scopes, generators, value parsing per call) costs more than the work itself:
 * over a third of a 100,000-user preview. Such an expression is compiled here into a plain chain
 * of the same filter functions. Anything else, and any record the chain is not sure of (a field
 * that is not a string, output beyond the memory limit), goes to Liquid, so results are
 * identical; test/expr/fast-path.test.ts checks that on every expression shape it accepts.
 */
export type FastRender = (record: Record<string, unknown>) => string | undefined;

type Filter = (v: string, args: Array<string | number>, budget: { left: number }) => string | undefined;

/**
 * Liquid's built-ins we take over, with its memory accounting (liquidjs `memoryLimit.use`): each
 * charges the budget before it computes, and gives undefined once the budget is spent.
 */
const BUILTIN: Record<string, { arity: number[]; fn: Filter; ints?: true }> = {
  downcase: { arity: [0], fn: (v, _a, b) => (spend(b, v.length) ? v.toLowerCase() : undefined) },
  upcase: { arity: [0], fn: (v, _a, b) => (spend(b, v.length) ? v.toUpperCase() : undefined) },
  append: {
    arity: [1],
    fn: (v, [a], b) => (spend(b, v.length + String(a).length) ? v + String(a) : undefined),
  },
  prepend: {
    arity: [1],
    fn: (v, [a], b) => (spend(b, v.length + String(a).length) ? String(a) + v : undefined),
  },
  remove: {
    arity: [1],
    fn: (v, [a], b) => (spend(b, v.length + String(a).length) ? v.split(String(a)).join('') : undefined),
  },
  // Liquid counts code points and charges the memory limit the requested length before cutting.
  slice: {
    arity: [1, 2],
    ints: true,
    fn: (v, [b, l = 1], budget) => {
      const length = Number(l);
      const begin = Number(b) < 0 ? codePointLength(v) + Number(b) : Number(b);
      if (begin < 0 || length < 0) return '';
      if (!spend(budget, length)) return undefined;
      const start = advanceCodePoints(v, 0, begin);
      return v.slice(start, advanceCodePoints(v, start, length));
    },
  },
  replace_first: {
    arity: [2],
    fn: (v, [p, r], b) =>
      spend(b, v.length + String(p).length + String(r).length)
        ? v.replace(String(p), () => String(r))
        : undefined,
  },
  capitalize: {
    arity: [0],
    fn: (v, _a, b) => (spend(b, v.length) ? v.charAt(0).toUpperCase() + v.slice(1).toLowerCase() : undefined),
  },
  strip: { arity: [0], fn: (v, _a, b) => (spend(b, v.length) ? v.trim() : undefined) },
  lstrip: { arity: [0], fn: (v, _a, b) => (spend(b, v.length) ? v.trimStart() : undefined) },
  rstrip: { arity: [0], fn: (v, _a, b) => (spend(b, v.length) ? v.trimEnd() : undefined) },
  // Liquid gives the default for an empty text, and for a missing field, which reaches us as ''.
  default: { arity: [1], fn: (v, [d]) => (v.length ? v : String(d)) },
  // A number in Liquid; its text is what any later filter, and the output, make of it.
  size: { arity: [0], fn: (v) => String(v.length) },
  replace: {
    arity: [2],
    fn: (v, [p, r], b) => {
      const parts = v.split(String(p));
      return spend(b, v.length + (parts.length - 1) * (String(r).length - String(p).length))
        ? parts.join(String(r))
        : undefined;
    },
  },
};

const OWN: Record<string, { arity: number[]; fn: Filter; ints?: true }> = {
  ascii: { arity: [0], fn: (v) => OWN_FILTERS.ascii(v) },
  lower: { arity: [0], fn: (v) => OWN_FILTERS.lower(v) },
  upper: { arity: [0], fn: (v) => OWN_FILTERS.upper(v) },
  trim: { arity: [0], fn: (v) => OWN_FILTERS.trim(v) },
  collapse: { arity: [0], fn: (v) => OWN_FILTERS.collapse(v) },
  fallback: { arity: [1, 2, 3], fn: (v, args) => OWN_FILTERS.fallback(v, ...args) },
  truncate: { arity: [1, 2], fn: (v, [n, marker]) => OWN_FILTERS.truncate(v, n, marker) },
};

function advanceCodePoints(s: string, from: number, count: number): number {
  let index = from;
  for (let i = 0; i < count && index < s.length; i++) index += s.codePointAt(index)! > 0xffff ? 2 : 1;
  return index;
}

function codePointLength(s: string): number {
  let length = 0;
  for (let index = 0; index < s.length; index = advanceCodePoints(s, index, 1)) length++;
  return length;
}

/** Charges `size` to the render's memory budget; false once it is spent. */
function spend(budget: { left: number }, size: number): boolean {
  budget.left -= size;
  return budget.left >= 0;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Words Liquid reads as literals, not variables. */
const KEYWORDS = new Set(['true', 'false', 'nil', 'null', 'empty', 'blank']);
/** A quoted literal without escapes or anything Liquid might read differently. */
const LITERAL = /^(?:'([^'\\{}%]*)'|"([^"\\{}%]*)")$/;

interface Output {
  field: string;
  filters: Array<{ fn: Filter; args: Array<string | number> }>;
}

/** The expression as a render function and the fields it reads, or undefined when it is not of the simple shape. */
export function compileFastPath(
  text: string,
  memoryLimit: number,
): { render: FastRender; fields: string[] } | undefined {
  if (text.includes('{%') || text.includes('{{-') || text.includes('-}}')) return undefined;
  const parts: Array<string | Output> = [];
  let at = 0;
  for (const m of text.matchAll(/\{\{([^{}]*)\}\}/g)) {
    const literal = text.slice(at, m.index);
    if (literal.includes('{{') || literal.includes('}}')) return undefined;
    if (literal) parts.push(literal);
    const output = parseOutput(m[1]!);
    if (!output) return undefined;
    parts.push(output);
    at = m.index + m[0].length;
  }
  const rest = text.slice(at);
  if (rest.includes('{{') || rest.includes('}}')) return undefined;
  if (rest) parts.push(rest);

  const fields = [...new Set(parts.filter((p): p is Output => typeof p !== 'string').map((p) => p.field))];
  // One budget per expression, reset per render: rendering is synchronous and never nested.
  const budget = { left: memoryLimit };
  const render: FastRender = (record) => {
    budget.left = memoryLimit;
    let out = '';
    for (const part of parts) {
      if (typeof part === 'string') {
        out += part;
        continue;
      }
      const raw = Object.hasOwn(record, part.field) ? record[part.field] : undefined;
      if (raw != null && typeof raw !== 'string') return undefined;
      let value: string | undefined = str(raw);
      for (const f of part.filters) {
        value = f.fn(value, f.args, budget);
        if (value === undefined) return undefined;
      }
      out += value;
    }
    return out;
  };
  return { render, fields };
}

/**
 * `split` makes a list, which only `first`, `last` or `join` right after it turn back into text:
 * the pair is taken as one filter (Liquid's code for each, memory accounting included).
 */
const LIST: Record<
  string,
  {
    arity: number[];
    fn: (list: string[], args: Array<string | number>, budget: { left: number }) => string | undefined;
  }
> = {
  // An element that is not there is nil in Liquid, which the next filter or the output reads as ''.
  first: { arity: [0], fn: (list) => list[0] ?? '' },
  last: { arity: [0], fn: (list) => list[list.length - 1] ?? '' },
  join: {
    arity: [0, 1],
    fn: (list, [sep = ' '], budget) => {
      const glue = String(sep);
      let size = glue.length * Math.max(list.length - 1, 0);
      for (const item of list) size += item.length;
      return spend(budget, size) ? list.join(glue) : undefined;
    },
  },
};

function split(v: string, separator: string, budget: { left: number }): string[] | undefined {
  if (!spend(budget, v.length)) return undefined;
  const list = v.split(separator);
  // As Liquid (and Ruby): trailing empty items are dropped.
  while (list.length && list[list.length - 1] === '') list.pop();
  return list;
}

/** One filter's name and literal arguments, or undefined when they are not of the simple shape. */
function parseFilter(
  segment: string,
  defs: Record<string, { arity: number[]; ints?: true }>,
): { name: string; args: Array<string | number> } | undefined {
  const m = /^([a-z_]+)\s*(?::\s*(.*))?$/s.exec(segment);
  if (!m) return undefined;
  const name = m[1]!;
  const def = Object.hasOwn(defs, name) ? defs[name]! : undefined;
  if (!def) return undefined;
  const args: Array<string | number> = [];
  if (m[2] !== undefined) {
    for (const a of splitArgs(m[2])) {
      const lit = LITERAL.exec(a);
      // Numbers where Liquid reads numbers: a length (truncate: 20) and slice's positions.
      if (def.ints) {
        if (!/^-?\d{1,6}$/.test(a)) return undefined;
        args.push(Number(a));
      } else if (!lit && name === 'truncate' && args.length === 0 && /^\d{1,6}$/.test(a))
        args.push(Number(a));
      else if (!lit) return undefined;
      else args.push(lit[1] ?? lit[2]!);
    }
  }
  return def.arity.includes(args.length) ? { name, args } : undefined;
}

const TEXT_FILTERS = { ...BUILTIN, ...OWN, split: { arity: [1] } };

function parseOutput(inner: string): Output | undefined {
  const [head, ...rest] = inner.split('|').map((s) => s.trim());
  if (!head || !IDENT.test(head) || KEYWORDS.has(head)) return undefined;
  const filters: Output['filters'] = [];
  for (let i = 0; i < rest.length; i++) {
    const f = parseFilter(rest[i]!, TEXT_FILTERS);
    if (!f) return undefined;
    // size gives a number: only at the end, where the output is its text.
    if (f.name === 'size' && i !== rest.length - 1) return undefined;
    if (f.name !== 'split') {
      filters.push({ fn: (OWN[f.name] ?? BUILTIN[f.name])!.fn, args: f.args });
      continue;
    }
    const then = rest[i + 1] !== undefined ? parseFilter(rest[i + 1]!, LIST) : undefined;
    if (!then) return undefined;
    i++;
    const separator = String(f.args[0]);
    const toText = LIST[then.name]!.fn;
    filters.push({
      fn: (v, args, budget) => {
        const list = split(v, separator, budget);
        return list && toText(list, args, budget);
      },
      args: then.args,
    });
  }
  return { field: head, filters };
}

/** Splits `'a', "b,c"` at commas outside quotes; a stray quote makes the whole thing unusable. */
function splitArgs(text: string): string[] {
  const args: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (const c of text) {
    if (quote) {
      if (c === quote) quote = undefined;
      current += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      current += c;
    } else if (c === ',') {
      args.push(current.trim());
      current = '';
    } else current += c;
  }
  if (quote) return ['<unclosed>'];
  args.push(current.trim());
  return args;
}
