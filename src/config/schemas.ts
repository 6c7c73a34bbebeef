import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { daemonConfig, reexportRequest, syncTemplate } from './validators.generated.js';

export type SchemaName = 'sync-template' | 'reexport-request' | 'daemon-config';

/**
 * The schemas' validators, compiled ahead of time from schemas/*.schema.json by `npm run gen:types`
 * (test/config/types.test.ts fails when they are stale). `verbose` keeps parentSchema on errors so
 * messages can use the schema's hints.
 */
const VALIDATORS: Record<SchemaName, ValidateFunction> = {
  'sync-template': syncTemplate as ValidateFunction,
  'reexport-request': reexportRequest as ValidateFunction,
  'daemon-config': daemonConfig as ValidateFunction,
};

export function validatorFor(name: SchemaName): ValidateFunction {
  return VALIDATORS[name];
}

export type { ErrorObject };
