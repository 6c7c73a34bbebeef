import { digestOf } from '../shared/canonical.js';
import type { ReexportRequest, SyncTemplate } from './types.generated.js';

/**
 * Only what changes the plan counts: execute and maxChanges do not, so merging with
 * execute: true still matches the preview.
 */
export function requestDigest(request: ReexportRequest): string {
  const { template, mappings, users } = request.spec;
  return digestOf({ template, mappings, users });
}

export function templateDigest(template: SyncTemplate): string {
  return digestOf({ name: template.metadata.name, spec: template.spec });
}
