/**
 * Whether an open preview must be computed again, decided without reading the directory's scope:
 * a pass that finds nothing changed leaves the preview as it is and costs next to nothing.
 * Pure: the caller supplies the digests, the directory's answer (ports ChangeDetector) and the time.
 */

/**
 * Where a target directory stood when a preview read it, so a later pass can ask "did anything
 * in this scope change since?" without reading the scope. Plain data, recorded with the preview.
 * - `usn`: Active Directory (and Samba): the domain controller's highestCommittedUSN. USNs are
 *   per domain controller, so `server` (its dsServiceName) must match for the comparison to hold.
 * - `csn`: OpenLDAP with the syncprov overlay: the contextCSN values of the suffix entry.
 * - `modifyTimestamp`: any other LDAPv3 server: the highest modifyTimestamp in the scope, and
 *   how many entries carry exactly that time (the attribute counts whole seconds).
 */
export type Watermark =
  | { kind: 'usn'; usn: string; server: string }
  | { kind: 'csn'; suffix: string; csn: string[] }
  | { kind: 'modifyTimestamp'; time: string; atTime: number };

/** What a recorded preview was made from (status.yaml's digests and directory read). */
export interface PreviewInputs {
  digests: { request: string; template: string; source: string };
  /** When the directory was read for it (ISO 8601). */
  directoryReadAt?: string;
}

export interface FreshnessInput {
  /** The preview as committed; undefined when there is none yet. */
  previous?: PreviewInputs;
  /** The digests of the request, template and source as they are now. */
  current: PreviewInputs['digests'];
  /**
   * The directory's answer for the template's scope since the recorded watermark: true, false,
   * or undefined when it could not say (no watermark, the server offers none, the check failed).
   */
  directoryChanged?: boolean;
  now: Date;
  /** The daemon's preview.refreshIntervalMinutes: deletes and moves leave no watermark trace. */
  refreshIntervalMinutes: number;
  /** A webhook call or command asked for this request (or every request) to be refreshed. */
  onDemand?: boolean;
}

export type FreshnessReason =
  | 'no-preview'
  | 'on-demand'
  | 'request-changed'
  | 'template-changed'
  | 'source-changed'
  | 'directory-changed'
  | 'directory-unknown'
  | 'refresh-interval'
  | 'fresh';

export interface FreshnessDecision {
  recompute: boolean;
  why: FreshnessReason;
  /** The same, for a log line or the status page. */
  message: string;
}

const decision = (recompute: boolean, why: FreshnessReason, message: string): FreshnessDecision => ({
  recompute,
  why,
  message,
});

export function decideFreshness(input: FreshnessInput): FreshnessDecision {
  const { previous, current } = input;
  if (!previous) return decision(true, 'no-preview', 'no preview yet');
  if (input.onDemand) return decision(true, 'on-demand', 'a refresh was asked for');
  if (previous.digests.request !== current.request)
    return decision(true, 'request-changed', 'the request changed');
  if (previous.digests.template !== current.template)
    return decision(true, 'template-changed', 'the template changed');
  if (previous.digests.source !== current.source)
    return decision(true, 'source-changed', 'the source data changed');
  if (input.directoryChanged === true)
    return decision(true, 'directory-changed', 'an entry in the scope changed in the directory');
  const readAt = previous.directoryReadAt ? Date.parse(previous.directoryReadAt) : NaN;
  if (Number.isNaN(readAt))
    return decision(true, 'directory-unknown', 'the preview does not say when it read the directory');
  // Without the directory's answer nothing says the preview still holds: read again.
  if (input.directoryChanged === undefined)
    return decision(true, 'directory-unknown', 'the directory cannot say whether the scope changed');
  const ageMinutes = (input.now.getTime() - readAt) / 60_000;
  // A clock that went backwards makes the age meaningless: read again rather than trust it.
  if (ageMinutes >= input.refreshIntervalMinutes || ageMinutes < 0)
    return decision(
      true,
      'refresh-interval',
      `the directory was read ${Math.round(ageMinutes)} minutes ago (refresh every ${input.refreshIntervalMinutes})`,
    );
  return decision(false, 'fresh', 'nothing changed since the preview');
}
