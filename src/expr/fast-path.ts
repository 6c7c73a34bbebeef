import { OWN_FILTERS } from './filters.js';

/**
 * Most mappings are text with `{{ field | filter: 'literal' … }}` outputs, maybe inside
 * `{% if field … %}` / `{% unless %}`. For those, Liquid's render machinery (scopes, generators,
 * value parsing per call) costs more than the work itself: a Liquid render is 2–5 µs, one
 * mapping of 100,000 users a quarter of a second more. Such an expression is compiled here into
 * plain functions doing what Liquid's filters and conditions do. Anything else, and any record
 * they are not sure of (a field that is not a string, output beyond the memory limit), goes to
 * Liquid, so results are identical; test/expr/fast-path.test.ts checks that on random
 * expressions of every shape it accepts.
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
/**
 * Names Liquid does not read as a record's field: a `size` the record lacks is the size of its
 * (empty) globals, 0, not nil; `or`, `and`, `not` and `contains` are operators (`{{ not }}` is true).
 */
const NOT_FIELDS = new Set([...KEYWORDS, 'size', 'or', 'and', 'not', 'contains']);
/** A quoted literal without escapes or anything Liquid might read differently. */
const LITERAL = /^(?:'([^'\\{}%]*)'|"([^"\\{}%]*)")$/;

interface Output {
  field: string;
  filters: Array<{ fn: Filter; args: Array<string | number> }>;
}

/**
 * `{% if %}` / `{% unless %}` on one field: truthy (nil is false, an empty text true), or `==`,
 * `!=` blank, empty, nil or a literal, or `contains` a literal; elsif and else branches. Or
 * `{% case field %}` with `{% when 'a', 'b' %}` branches and an else.
 */
interface Conditional {
  branches: Array<{ test: Test; body: Part[] }>;
  otherwise: Part[];
  /** case: every branch that holds is rendered, in order, as Liquid does; the else when none. */
  every?: true;
  /** case: the field it reads, even with no `when` (Liquid lists it). */
  subject?: string;
}
type Part = string | Output | Conditional;

interface Test {
  field: string;
  /** Whether the branch is taken for a text or nil value of the field. */
  holds: (value: string | undefined) => boolean;
}

/** A tag's words: `if a == 'x'` and the like; anything else is left to Liquid. */
const CONDITION =
  /^([A-Za-z_][A-Za-z0-9_]*)(?:\s+(==|!=|contains)\s+(blank|empty|nil|null|'[^'\\{}%]*'|"[^"\\{}%]*"))?$/;

function parseTest(words: string, negate: boolean): Test | undefined {
  const m = CONDITION.exec(words.trim());
  if (!m || NOT_FIELDS.has(m[1]!)) return undefined;
  const [, field, op, operand] = m as unknown as [string, string, string?, string?];
  let holds: Test['holds'];
  if (op === undefined) holds = (v) => v !== undefined;
  else {
    const literal = LITERAL.exec(operand!);
    const text = literal ? (literal[1] ?? literal[2]!) : undefined;
    if (op === 'contains') {
      if (text === undefined) return undefined;
      holds = (v) => v !== undefined && v.includes(text);
    } else {
      // Liquid's equals for a text or nil: blank is nil or whitespace only, empty the empty text.
      const equals: Test['holds'] =
        operand === 'blank'
          ? (v) => v === undefined || /^\s*$/.test(v)
          : operand === 'empty'
            ? (v) => v === ''
            : text === undefined
              ? (v) => v === undefined
              : (v) => v === text;
      holds = op === '==' ? equals : (v) => !equals(v);
    }
  }
  return { field, holds: negate ? (v) => !holds(v) : holds };
}

/** A piece of an expression: literal text, an output or a tag. */
const PIECE = /\{\{([^{}]*)\}\}|\{%([^{}%]*)%\}/g;
/** On a tag's trimmed text: a lazy `\s*(.*?)\s*$` backtracks quadratically on runs of blanks. */
const TAG = /^(if|unless|elsif|else|endif|endunless|case|when|endcase)\b\s*(.*)$/s;

/** `when`'s values: text literals separated by `,` or ` or `. */
const WHEN = /^(?:'[^'\\{}%]*'|"[^"\\{}%]*")(?:(?:\s*,\s*|\s+or\s+)(?:'[^'\\{}%]*'|"[^"\\{}%]*"))*$/;

/** The `case` branch for a `when`'s words, or undefined when they are not text literals. */
function parseWhen(field: string, words: string): Test | undefined {
  if (!WHEN.test(words)) return undefined;
  const values = new Set([...words.matchAll(/'([^']*)'|"([^"]*)"/g)].map((m) => m[1] ?? m[2]!));
  return { field, holds: (v) => v !== undefined && values.has(v) };
}

/** The pieces of an expression as parts, or undefined when any is not of the simple shape. */
function parseParts(text: string): Part[] | undefined {
  // Each open conditional, and the branch list being filled.
  const stack: Array<{
    kind: 'if' | 'unless' | 'case';
    node: Conditional;
    into: Part[];
    elsed: boolean;
    /** case: its field, and what came before its first `when` (Liquid drops it; text only here). */
    field?: string;
    before?: Part[];
  }> = [];
  // Whether a case's dropped beginning held only text, checked when it ends.
  const textOnly = (open: { before?: Part[] }) => !open.before?.some((p) => typeof p !== 'string');
  const top: Part[] = [];
  let into = top;
  let at = 0;
  const literal = (t: string) => {
    if (/\{\{|\}\}|\{%|%\}/.test(t)) return false;
    if (t) into.push(t);
    return true;
  };
  for (const m of text.matchAll(PIECE)) {
    const before = text.slice(at, m.index);
    // `{{% if` or `{{{ x }}`: Liquid reads an output from the first `{{`, so not these pieces.
    if (!literal(before) || before.endsWith('{')) return undefined;
    at = m.index + m[0].length;
    if (m[1] !== undefined) {
      const output = parseOutput(m[1]);
      if (!output) return undefined;
      into.push(output);
      continue;
    }
    const tag = TAG.exec(m[2]!.trim());
    if (!tag) return undefined;
    const [, name, words] = tag as unknown as [string, string, string];
    const open = stack[stack.length - 1];
    if (name === 'if' || name === 'unless') {
      const test = parseTest(words, name === 'unless');
      if (!test) return undefined;
      const node: Conditional = { branches: [{ test, body: [] }], otherwise: [] };
      into.push(node);
      stack.push({ kind: name, node, into, elsed: false });
      into = node.branches[0]!.body;
    } else if (name === 'case') {
      if (!IDENT.test(words) || NOT_FIELDS.has(words)) return undefined;
      const node: Conditional = { branches: [], otherwise: [], every: true, subject: words };
      into.push(node);
      const before: Part[] = [];
      stack.push({ kind: 'case', node, into, elsed: false, field: words, before });
      into = before;
    } else if (name === 'when') {
      // A `when` after the else adds to the else in Liquid: left to it.
      if (!open || open.kind !== 'case' || open.elsed || !textOnly(open)) return undefined;
      const test = parseWhen(open.field!, words);
      if (!test) return undefined;
      open.node.branches.push({ test, body: [] });
      into = open.node.branches[open.node.branches.length - 1]!.body;
    } else if (name === 'elsif') {
      if (!open || open.kind !== 'if' || open.elsed) return undefined;
      const test = parseTest(words, false);
      if (!test) return undefined;
      open.node.branches.push({ test, body: [] });
      into = open.node.branches[open.node.branches.length - 1]!.body;
    } else if (name === 'else') {
      if (!open || open.elsed || words !== '' || !textOnly(open)) return undefined;
      open.elsed = true;
      into = open.node.otherwise;
    } else {
      if (!open || words !== '' || name !== `end${open.kind}` || !textOnly(open)) return undefined;
      stack.pop();
      into = open.into;
    }
  }
  if (stack.length || !literal(text.slice(at))) return undefined;
  return top;
}

function fieldsOf(parts: readonly Part[], into: Set<string>): Set<string> {
  for (const p of parts) {
    if (typeof p === 'string') continue;
    if ('field' in p) into.add(p.field);
    else {
      // In Liquid's order: what the tag reads (every condition), then the branches.
      if (p.subject !== undefined) into.add(p.subject);
      for (const b of p.branches) into.add(b.test.field);
      for (const b of p.branches) fieldsOf(b.body, into);
      fieldsOf(p.otherwise, into);
    }
  }
  return into;
}

/** A field's value as the fast path takes it: text, or undefined for nil; null for anything else. */
function fieldValue(record: Record<string, unknown>, field: string): string | undefined | null {
  const raw = Object.hasOwn(record, field) ? record[field] : undefined;
  if (raw == null) return undefined;
  return typeof raw === 'string' ? raw : null;
}

/** Renders parts onto `out`; undefined when a value must go to Liquid (not text, over the budget). */
function renderParts(
  parts: readonly Part[],
  record: Record<string, unknown>,
  budget: { left: number },
  out: string,
): string | undefined {
  for (const part of parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    if ('field' in part) {
      const raw = fieldValue(record, part.field);
      if (raw === null) return undefined;
      let value: string | undefined = raw ?? '';
      for (const f of part.filters) {
        value = f.fn(value, f.args, budget);
        if (value === undefined) return undefined;
      }
      out += value;
      continue;
    }
    let hit = false;
    for (const b of part.branches) {
      const v = fieldValue(record, b.test.field);
      if (v === null) return undefined;
      if (!b.test.holds(v)) continue;
      hit = true;
      const rendered = renderParts(b.body, record, budget, out);
      if (rendered === undefined) return undefined;
      out = rendered;
      if (!part.every) break;
    }
    if (!hit) {
      const rendered = renderParts(part.otherwise, record, budget, out);
      if (rendered === undefined) return undefined;
      out = rendered;
    }
  }
  return out;
}

/** The expression as a render function and the fields it reads, or undefined when it is not of the simple shape. */
export function compileFastPath(
  text: string,
  limits: { memory: number; parse: number },
): { render: FastRender; fields: string[] } | undefined {
  const memoryLimit = limits.memory;
  // Liquid refuses a text over its parse limit; it must say so, not this.
  if (text.length > limits.parse) return undefined;
  if (/\{\{-|-\}\}|\{%-|-%\}/.test(text)) return undefined;
  // The two characters JavaScript and Liquid disagree on as blanks (\s has U+FEFF, Liquid U+180E).
  if (/[\ufeff\u180e]/.test(text)) return undefined;
  const parts = parseParts(text);
  if (!parts) return undefined;
  const fields = [...fieldsOf(parts, new Set())];
  // One budget per expression, reset per render: rendering is synchronous and never nested.
  const budget = { left: memoryLimit };
  const render: FastRender = (record) => {
    budget.left = memoryLimit;
    return renderParts(parts, record, budget, '');
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
  if (!head || !IDENT.test(head) || NOT_FIELDS.has(head)) return undefined;
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
