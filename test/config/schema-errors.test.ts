import { describe, expect, it } from 'vitest';
import { checkYamlText } from '../../src/config/load-file.js';

/** A template with `n` mappings whose source is a number, not an expression. */
function template(n: number, extra = ''): string {
  const mappings = Array.from(
    { length: n },
    (_, i) => `  - { target: a${i}, source: 5${i < 2 ? extra : ''} }`,
  );
  return [
    'apiVersion: reexport/v1',
    'kind: SyncTemplate',
    'metadata: { name: t }',
    'spec:',
    '  target: ad',
    '  source: { file: data/a.csv, id: id }',
    '  match: { sourceField: id, targetAttribute: employeeID }',
    '  scope: { baseDN: "dc=x" }',
    '  mappings:',
    ...mappings,
    '',
  ].join('\n');
}

describe('schema errors', () => {
  it('explain a broken file of hundreds of mappings up to the first 1,000 errors, and say there are more', () => {
    const lines = checkYamlText(
      template(340, ', other: 1'),
      'templates/t.yaml',
      'sync-template',
    ).diagnostics.map((d) => `${d.line}: ${d.message}`);
    // Every mapping read is explained as the alternative it fails, up to where the errors were cut.
    expect(lines).toContain(
      `${10 + 332}: spec.mappings[332].source: source must be an expression string or a list of expression strings`,
    );
    expect(lines.some((l) => /must be a string, not the number/.test(l))).toBe(false);
    expect(lines.at(-1)).toMatch(
      /^1: and more problems than these \([\d,]+ schema errors in all\); fix these first$/,
    );
    // A file with fewer errors is explained in full, with no such line.
    const few = checkYamlText(template(3), 'templates/t.yaml', 'sync-template').diagnostics;
    expect(few.map((d) => d.message).filter((m) => /and more problems/.test(m))).toEqual([]);
    expect(few.length).toBeGreaterThanOrEqual(3);
  });
});
