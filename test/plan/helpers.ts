import type { ReexportRequest, SyncTemplate } from '../../src/config/types.generated.js';
import type { PlanEntry } from '../../src/plan/build-plan.js';
import { collectRecords, type SourceData } from '../../src/source/records.js';

export function template(mappings: SyncTemplate['spec']['mappings']): SyncTemplate {
  return {
    apiVersion: 'reexport/v1',
    kind: 'SyncTemplate',
    metadata: { name: 'ad-employees' },
    spec: {
      target: 'ad',
      source: { file: 'data/people.csv', id: 'employeeId' },
      match: { sourceField: 'employeeId', targetAttribute: 'employeeID' },
      scope: { baseDN: 'OU=Ansatte,DC=kommune,DC=test' },
      mappings,
    },
  };
}

export function request(spec: Partial<ReexportRequest['spec']> = {}): ReexportRequest {
  return {
    apiVersion: 'reexport/v1',
    kind: 'ReexportRequest',
    metadata: { name: 'r' },
    spec: { template: 'ad-employees', mappings: 'all', users: 'all', ...spec },
  };
}

export function source(rows: Array<Record<string, string>>): SourceData {
  return collectRecords(
    'people.csv',
    rows.map((fields, i) => ({ fields, origin: `people.csv:${i + 2}` })),
    'employeeId',
    'abc',
  );
}

export function entry(dn: string, attrs: Record<string, string | string[]>): PlanEntry {
  return {
    dn,
    attrs: new Map(
      Object.entries(attrs).map(([k, v]) => [
        k.toLowerCase(),
        { name: k, values: Array.isArray(v) ? v : [v] },
      ]),
    ),
  };
}
