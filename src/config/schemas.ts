import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

export type SchemaName = 'sync-template' | 'reexport-request' | 'daemon-config';

const schemaDir = new URL('../../schemas/', import.meta.url);

export function schemaPath(name: SchemaName): string {
  return fileURLToPath(new URL(`${name}.schema.json`, schemaDir));
}

let ajv: Ajv2020 | undefined;
const compiled = new Map<SchemaName, ValidateFunction>();

/** Compiled once per process; `verbose` keeps parentSchema on errors so messages can use the schema's hints. */
export function validatorFor(name: SchemaName): ValidateFunction {
  let fn = compiled.get(name);
  if (!fn) {
    if (!ajv) {
      ajv = new Ajv2020({ allErrors: true, strict: true, verbose: true, useDefaults: false });
      ajv.addVocabulary(['x-hint']);
    }
    fn = ajv.compile(JSON.parse(readFileSync(schemaPath(name), 'utf8')));
    compiled.set(name, fn);
  }
  return fn;
}

export type { ErrorObject };
