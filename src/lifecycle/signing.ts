import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../shared/canonical.js';

/**
 * What the daemon vouches for. A preview statement says "I computed this plan from exactly these
 * inputs"; an execution statement says "I executed (or claimed) this plan"; both name the branch
 * and commit they were made on. Anyone with the daemon's public key can check one (a forge's CI
 * with `reexport verify`); nobody without the private key can make one.
 */
export interface Statement {
  v: 1;
  kind: 'preview' | 'claim' | 'execution';
  request: string;
  branch: string;
  commit: string;
  digests: { request: string; template: string; source: string; plan: string };
  /** The lifecycle state the statement records (previewed, executing, partial, executed, …). */
  state: string;
  at: string;
  /** Daemon instance that made a claim (host and pid), for the claim timeout. */
  by?: string;
  /** A preview's preview.md, as sha256 of its text: what reviewers read is what the daemon wrote. */
  previewMd?: string;
  /**
   * A preview's status.yaml without its signature, as sha256 of that text: the counts, safety
   * message and read time a reviewer sees in the forge are the daemon's too. Absent in statements
   * made before it was signed.
   */
  status?: string;
  /**
   * A preview's safety verdict: false when the plan is over the daemon's limits and the request
   * does not confirm it, so the pull request's check fails before a merge the execution would
   * refuse. Absent in statements made before it was signed.
   */
  withinLimits?: boolean;
}

/** A statement with its Ed25519 signature, as it is stored in status.yaml and commit trailers. */
export interface Signed {
  keyId: string;
  /** The canonical JSON of the statement: exactly the bytes signed. */
  statement: string;
  /** Base64 Ed25519 signature over `statement`. */
  signature: string;
}

/** A short, stable name for a public key: the first 16 hex digits of the SHA-256 of its SPKI DER. */
export function keyIdOf(publicKey: KeyObject): string {
  let id = keyIds.get(publicKey);
  if (id === undefined) {
    const der = publicKey.export({ type: 'spki', format: 'der' });
    id = `ed25519:${createHash('sha256').update(der).digest('hex').slice(0, 16)}`;
    keyIds.set(publicKey, id);
  }
  return id;
}

/**
 * A key's ID, made once per key object: every verification asks for it, and exporting the key
 * each time was a third of reading main's execution records.
 */
const keyIds = new WeakMap<KeyObject, string>();

export function signStatement(statement: Statement, privateKey: KeyObject): Signed {
  const text = canonicalJson(statement);
  const publicKey = createPublicKey(privateKey);
  return {
    keyId: keyIdOf(publicKey),
    statement: text,
    signature: sign(null, Buffer.from(text), privateKey).toString('base64'),
  };
}

export type Verified = { ok: true; statement: Statement } | { ok: false; reason: string };

/** Checks the signature with the daemon's public key; never trusts the statement before that. */
export function verifySigned(signed: unknown, publicKey: KeyObject): Verified {
  if (!isSigned(signed)) return { ok: false, reason: 'no signature' };
  const want = keyIdOf(publicKey);
  if (signed.keyId !== want) return { ok: false, reason: `signed with key ${signed.keyId}, not ${want}` };
  const bytes = Buffer.from(signed.signature, 'base64');
  // Node's decoder skips what it cannot read; only the one spelling the daemon writes counts.
  if (bytes.toString('base64') !== signed.signature)
    return { ok: false, reason: 'the signature is not base64 as the daemon writes it' };
  let good: boolean;
  try {
    good = verify(null, Buffer.from(signed.statement), publicKey, bytes);
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: 'the signature does not match the statement' };
  const statement = JSON.parse(signed.statement) as Statement;
  if (statement.v !== 1) return { ok: false, reason: `unknown statement version ${String(statement.v)}` };
  return { ok: true, statement };
}

function isSigned(v: unknown): v is Signed {
  const s = v as Partial<Signed> | undefined;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.keyId === 'string' &&
    typeof s.statement === 'string' &&
    typeof s.signature === 'string'
  );
}
