import type { Diagnostic } from '../shared/diagnostics.js';
import { schemaDiagnostics } from './schema-errors.js';
import { type SchemaName, validatorFor } from './schemas.js';
import { parseYaml, readConfigText, type YamlFile } from './yaml-file.js';

export interface CheckedFile<T> {
  yaml?: YamlFile;
  /** Present only when the file passed its schema. */
  value?: T;
  diagnostics: Diagnostic[];
}

/** Stage one of validation for one file: read, parse, check shape. Never throws for bad content. */
export async function loadYamlFile<T>(
  absPath: string,
  file: string,
  schema: SchemaName,
): Promise<CheckedFile<T>> {
  const read = await readConfigText(absPath, file);
  if (read.text === undefined) return { diagnostics: read.diagnostics };
  return checkYamlText<T>(read.text, file, schema);
}

export function checkYamlText<T>(text: string, file: string, schema: SchemaName): CheckedFile<T> {
  const parsed = parseYaml(text, file);
  if (!parsed.yaml) return { diagnostics: parsed.diagnostics };
  const validate = validatorFor(schema);
  if (validate(parsed.yaml.value))
    return { yaml: parsed.yaml, value: parsed.yaml.value as T, diagnostics: [] };
  return { yaml: parsed.yaml, diagnostics: schemaDiagnostics(parsed.yaml, validate.errors ?? []) };
}
