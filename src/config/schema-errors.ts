import type { ErrorObject } from 'ajv/dist/2020.js';
import type { Diagnostic } from '../shared/diagnostics.js';
import { locate, type PathSegment, type YamlFile } from './yaml-file.js';
import { closest } from '../shared/closest.js';
import { visibleControls } from '../shared/text.js';

export { closest };

/** The schema errors of one file turned into diagnostics; the rest are left for the next round. */
const MAX_ERRORS = 1000;

const isAlternativeError = (e: ErrorObject) => e.keyword === 'oneOf' || e.keyword === 'anyOf';

/**
 * Turns ajv's errors into one located, actionable message per problem. oneOf failures produce an
 * error per branch; we keep the errors of the branch the user evidently meant (the deeper ones), or
 * the schema's `x-hint` when no branch fits at all.
 */
export function schemaDiagnostics(yaml: YamlFile, allErrors: readonly ErrorObject[]): Diagnostic[] {
  // Matching errors to their alternatives costs errors × alternatives: a broken (or hostile) file
  // of 20,000 mappings took minutes. Its first errors say what to fix.
  const errors = allErrors.slice(0, MAX_ERRORS);
  // ajv lists an alternative after its branches' errors: one past the cut still explains them.
  const kept = new Set<string>();
  for (const e of errors)
    for (let p = e.instancePath; ; p = p.slice(0, p.lastIndexOf('/'))) {
      kept.add(p);
      if (p === '') break;
    }
  for (const e of allErrors.slice(MAX_ERRORS))
    if (isAlternativeError(e) && kept.has(e.instancePath)) errors.push(e);
  const alternatives = errors.filter(isAlternativeError);
  const isAlternative = new Set(alternatives);
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  const emit = (path: PathSegment[], which: 'value' | 'key', message: string) => {
    const pos = locate(yaml, path, which);
    const key = `${pos.line}:${pos.col}:${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ file: yaml.file, ...pos, message });
  };

  for (const alt of alternatives) {
    const inside = errors.filter((e) => e !== alt && isWithin(e.instancePath, alt.instancePath));
    const deeper = inside.filter((e) => e.instancePath !== alt.instancePath && !isAlternative.has(e));
    if (
      deeper.length === 0 &&
      !alternatives.some(
        (a) => a !== alt && isWithin(a.instancePath, alt.instancePath) && a.instancePath !== alt.instancePath,
      )
    ) {
      emit(
        toPath(alt.instancePath),
        'value',
        `${label(alt.instancePath)}: ${hintOf(alt) ?? describeAlternatives(alt)}`,
      );
    }
  }

  for (const err of errors) {
    if (isAlternative.has(err)) continue;
    const owner = alternatives.find((a) => isWithin(err.instancePath, a.instancePath));
    // Errors at the alternative's own level say "wrong branch"; the alternative's message covers them.
    if (owner && err.instancePath === owner.instancePath) continue;
    const { path, which, message } = explain(err);
    emit(path, which, message);
  }
  if (allErrors.length > MAX_ERRORS)
    out.push({
      file: yaml.file,
      line: 1,
      col: 1,
      message: `and more problems than these (${allErrors.length.toLocaleString('en')} schema errors in all); fix these first`,
    });
  return out;
}

function explain(err: ErrorObject): { path: PathSegment[]; which: 'value' | 'key'; message: string } {
  const path = toPath(err.instancePath);
  const where = label(err.instancePath);
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required': {
      const field = String(p.missingProperty);
      return {
        path,
        which: 'key',
        message: `${path.length ? `${where}: ` : ''}missing required field \`${field}\`; add it`,
      };
    }
    case 'additionalProperties': {
      const field = String(p.additionalProperty);
      const allowed = Object.keys((err.parentSchema as { properties?: object })?.properties ?? {});
      const guess = closest(field, allowed);
      const tail = guess
        ? `; did you mean \`${guess}\`?`
        : allowed.length
          ? ` (allowed: ${allowed.join(', ')})`
          : '';
      return {
        path: [...path, field],
        which: 'key',
        message: `${where}: unknown field \`${field}\`; remove it${tail}`,
      };
    }
    case 'type': {
      const expected = String(p.type);
      const quote =
        expected === 'string' && (typeof err.data === 'number' || typeof err.data === 'boolean')
          ? ` (put it in quotes, e.g. "${String(err.data)}", so YAML keeps it as text)`
          : '';
      return {
        path,
        which: 'value',
        message: `${where} must be ${article(expected)}, not ${typeName(err.data)}${quote}`,
      };
    }
    case 'const':
      return {
        path,
        which: 'value',
        message: `${where} must be \`${String(p.allowedValue)}\`, not \`${show(err.data)}\``,
      };
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map(String);
      const guess = typeof err.data === 'string' ? closest(err.data, allowed) : undefined;
      return {
        path,
        which: 'value',
        message: `${where} must be one of ${allowed.join(', ')}, not \`${show(err.data)}\`${guess ? `; did you mean \`${guess}\`?` : ''}`,
      };
    }
    case 'pattern': {
      const hint = hintOf(err);
      return {
        path,
        which: 'value',
        message: `${where} \`${show(err.data)}\` is not valid: ${hint ?? `it must match ${String(p.pattern)}`}`,
      };
    }
    case 'propertyNames':
      return {
        path: [...path, String(p.propertyName)],
        which: 'key',
        message: `${where}: the name \`${String(p.propertyName)}\` is not valid`,
      };
    case 'uniqueItems':
      return {
        path: [...path, Number(p.i)],
        which: 'value',
        message: `${where} lists the same value twice (items ${Number(p.j) + 1} and ${Number(p.i) + 1}); remove the duplicate`,
      };
    default:
      return { path, which: 'value', message: `${where} ${err.message ?? 'is not valid'}` };
  }
}

function hintOf(err: ErrorObject): string | undefined {
  const hint: unknown = err.parentSchema?.['x-hint'];
  return typeof hint === 'string' ? hint : undefined;
}

function describeAlternatives(err: ErrorObject): string {
  const branches = ((err.parentSchema as { oneOf?: unknown[]; anyOf?: unknown[] })?.oneOf ??
    (err.parentSchema as { anyOf?: unknown[] })?.anyOf ??
    []) as Array<Record<string, unknown>>;
  const kinds = branches.map((b) =>
    'const' in b
      ? `\`${String(b.const)}\``
      : b.type === 'array'
        ? 'a list'
        : typeof b.type === 'string'
          ? article(b.type)
          : 'another form',
  );
  return `must be ${kinds.join(' or ')}, not ${typeName(err.data)}`;
}

export function toPath(instancePath: string): PathSegment[] {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

/** `spec.users.ids[0]` reads better to a YAML author than `/spec/users/ids/0`. */
export function label(instancePath: string): string {
  const path = toPath(instancePath);
  if (path.length === 0) return 'the file';
  return path.reduce<string>(
    (acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg),
    '',
  );
}

function isWithin(path: string, ancestor: string): boolean {
  return path === ancestor || path.startsWith(`${ancestor}/`);
}

function article(type: string): string {
  const names: Record<string, string> = {
    object: 'a mapping (key: value)',
    array: 'a list',
    string: 'a string',
    integer: 'a whole number',
    number: 'a number',
    boolean: 'true or false',
    null: 'empty',
  };
  return names[type] ?? type;
}

function typeName(v: unknown): string {
  if (v === null) return 'empty';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the text "${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  return typeof v;
}

/** A value quoted in a message: short, and on one line whatever it holds. */
function show(v: unknown): string {
  const s = visibleControls(typeof v === 'string' ? v : JSON.stringify(v));
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}
