/**
 * LDAP filters built as ldapts filter objects, never by pasting strings: a source ID is sent as
 * the raw value of an equality assertion, so filter syntax in it (`*)(uid=*`) is just data.
 */
import { InputSyntaxError } from '../shared/errors.js';
import { AndFilter, EqualityFilter, Filter, FilterParser, NotFilter, OrFilter, PresenceFilter } from 'ldapts';

/** Filter text that is not an RFC 4515 filter; a product error (exit 1), never an internal one. */
export class FilterSyntaxError extends InputSyntaxError {}

/** RFC 4515 escaping of an assertion value for filter text (`*`, `(`, `)`, `\`, NUL); UTF-8 stays literal. */
export function escapeFilterValue(value: string): string {
  return Filter.escape(value);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * ldapts turns each `\XX` escape into one UTF-16 code unit and then UTF-8-encodes the result, so
 * an escaped UTF-8 sequence (`\c3\a6` for æ) would reach the server double-encoded. Spelling such
 * runs as the literal characters first makes both forms mean what RFC 4515 says they mean.
 */
function literaliseUtf8Escapes(text: string): string {
  return text.replace(/(?:\\[89a-fA-F][0-9a-fA-F])+/g, (run) => {
    const bytes = Buffer.from(run.replaceAll('\\', ''), 'hex');
    try {
      return UTF8.decode(bytes);
    } catch {
      throw new FilterSyntaxError(
        `filter ${text} escapes bytes that are not UTF-8 (${run}); binary assertion values are not supported here`,
      );
    }
  });
}

/** Parses filter text such as a template's scope filter; throws FilterSyntaxError saying what is wrong. */
export function parseFilter(text: string): Filter {
  const trimmed = text.trim();
  if (trimmed === '') throw new FilterSyntaxError('filter is empty; write e.g. (objectClass=user)');
  // ldapts quietly closes a missing final parenthesis; a reviewer should see the typo instead.
  // Parentheses inside values must be escaped (\28, \29), so counting them is exact.
  let depth = 0;
  for (const c of trimmed) {
    depth += c === '(' ? 1 : c === ')' ? -1 : 0;
    if (depth < 0) break;
  }
  if (depth !== 0)
    throw new FilterSyntaxError(
      `${trimmed} is not a valid LDAP filter: its parentheses do not pair up (${depth > 0 ? 'a `)` is missing' : 'one `)` too many'})`,
    );
  const normalised = literaliseUtf8Escapes(trimmed);
  try {
    return FilterParser.parseString(normalised);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new FilterSyntaxError(`${trimmed} is not a valid LDAP filter: ${why}`);
  }
}

/** Matches no entry on any server; `(|)` (RFC 4526) would be shorter but not every server knows it. */
function matchNothing(): Filter {
  const present = () => new PresenceFilter({ attribute: 'objectClass' });
  return new AndFilter({ filters: [present(), new NotFilter({ filter: present() })] });
}

function idsFilter(matchAttribute: string, ids: string[]): Filter {
  const unique = [...new Set(ids)];
  const equalities = unique.map((id) => new EqualityFilter({ attribute: matchAttribute, value: id }));
  if (equalities.length === 0) return matchNothing();
  return equalities.length === 1 ? equalities[0]! : new OrFilter({ filters: equalities });
}

/**
 * The entries a template manages: `(&<scope>(<match>=*))`, or with `ids`
 * `(&<scope>(|(<match>=id1)(<match>=id2)…))`. An empty `ids` list matches nothing.
 */
export function scopeFilter(opts: { scopeFilter?: string; matchAttribute: string; ids?: string[] }): Filter {
  const scope = opts.scopeFilter?.trim()
    ? parseFilter(opts.scopeFilter)
    : new PresenceFilter({ attribute: 'objectClass' });
  const match = opts.ids
    ? idsFilter(opts.matchAttribute, opts.ids)
    : new PresenceFilter({ attribute: opts.matchAttribute });
  return new AndFilter({ filters: [scope, match] });
}
