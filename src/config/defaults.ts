/**
 * The one registry of defaults is the JSON Schemas' `default` keywords (as Renovate keeps its
 * options' defaults in one place): the daemon config is filled from them once, when it loads, and
 * the few template defaults the planner reads are taken from them here. No default is written in
 * code; test/config/defaults.test.ts scans src/ so none comes back.
 */
import { daemonConfigSchema, syncTemplateSchema } from './schemas.generated.js';

type SchemaNode = { readonly [key: string]: unknown };

const isNode = (v: unknown): v is SchemaNode => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A local `$ref` (`#/$defs/…`) resolved against the root; sibling keywords win over the target's. */
function deref(root: SchemaNode, node: SchemaNode): SchemaNode {
  const { $ref: ref, ...siblings } = node;
  if (typeof ref !== 'string') return node;
  const target = ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<unknown>((at, key) => (isNode(at) ? at[key] : undefined), root);
  if (!isNode(target)) throw new Error(`schema reference ${ref} does not resolve`);
  return { ...deref(root, target), ...siblings };
}

/** The oneOf branch a value belongs to, told by its const/enum properties (e.g. a source's `type`). */
function branchOf(root: SchemaNode, branches: unknown[], value: SchemaNode): SchemaNode | undefined {
  const fits = branches.filter((b) => {
    if (!isNode(b)) return false;
    const props = deref(root, b).properties;
    if (!isNode(props)) return false;
    return Object.entries(props).every(([key, p]) => {
      if (!isNode(p)) return true;
      if ('const' in p) return value[key] === p.const;
      if (Array.isArray(p.enum)) return p.enum.includes(value[key]);
      return true;
    });
  });
  return fits.length === 1 && isNode(fits[0]) ? deref(root, fits[0]) : undefined;
}

/**
 * A copy of `value` with every absent property that has a schema default filled in (an object
 * default such as `{}` is then filled in turn), and every string marked `x-path` passed through
 * `resolvePath`. `value` must already have passed the schema: this only adds, it never checks.
 */
export function withSchemaDefaults(
  root: SchemaNode,
  value: unknown,
  resolvePath: (p: string) => string = (p) => p,
): unknown {
  const fill = (schemaNode: SchemaNode, v: unknown): unknown => {
    const node = deref(root, schemaNode);
    const current = v === undefined && node.default !== undefined ? structuredClone(node.default) : v;
    if (typeof current === 'string' && node['x-path'] === true) return resolvePath(current);
    if (Array.isArray(current))
      return isNode(node.items) ? current.map((v) => fill(node.items as SchemaNode, v)) : current;
    if (!isNode(current)) return current;
    if (Array.isArray(node.oneOf)) {
      const branch = branchOf(root, node.oneOf, current);
      return branch ? fill(branch, current) : current;
    }
    const out: Record<string, unknown> = { ...current };
    const props = isNode(node.properties) ? node.properties : {};
    for (const [key, p] of Object.entries(props)) {
      if (!isNode(p)) continue;
      const filled = fill(p, out[key]);
      if (filled !== undefined) out[key] = filled;
    }
    if (isNode(node.additionalProperties)) {
      for (const key of Object.keys(out))
        if (!(key in props)) out[key] = fill(node.additionalProperties, out[key]);
    }
    return out;
  };
  return fill(root, value);
}

export const DAEMON_CONFIG_SCHEMA: SchemaNode = daemonConfigSchema;

const mappingProps = syncTemplateSchema.$defs.mapping.properties;

/** Template defaults the planner reads where a template leaves them out. */
export const TEMPLATE_DEFAULTS = {
  policy: mappingProps.policy.default,
  onEmpty: mappingProps.onEmpty.default,
  searchScope: syncTemplateSchema.properties.spec.properties.scope.properties.searchScope.default,
} as const;
