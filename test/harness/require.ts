/**
 * Gates for tests that need a real directory server (or another system tool, such as kubectl).
 *
 * On a machine without slapd/Samba such tests are skipped, so `npm test` stays usable anywhere.
 * CI sets REEXPORT_REQUIRE_DIRECTORIES=1, and then a missing server is a failing test with the
 * reason, never a silent skip that would let a green run hide untested code.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { LDAPMODIFY, LDAPSEARCH, SCHEMA_DIR, SLAPADD, SLAPD } from './slapd.js';
import { SAMBA, SAMBA_TOOL } from './samba.js';

export const requireDirectories = process.env.REEXPORT_REQUIRE_DIRECTORIES === '1';

function missingExecutables(paths: string[]): string[] {
  return paths.filter((p) => {
    try {
      accessSync(p, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
}

function missingFiles(paths: string[]): string[] {
  return paths.filter((p) => {
    try {
      accessSync(p, constants.R_OK);
      return false;
    } catch {
      return true;
    }
  });
}

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (missingExecutables([`${dir}/${name}`]).length === 0) return `${dir}/${name}`;
  }
  return undefined;
}

/** Samba's LDAP ports are fixed at 389/636 (see samba.ts), so it needs root or lowered privileged ports. */
function canBindLowPorts(): boolean {
  if (process.getuid?.() === 0) return true;
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim()) <= 389;
  } catch {
    return false;
  }
}

function reason(missing: string[], pkgs: string): string | undefined {
  return missing.length ? `missing ${missing.join(', ')} (apt-get install ${pkgs})` : undefined;
}

const opensslMissing = which('openssl') ? [] : ['openssl'];

/** Why slapd tests cannot run here, or undefined when they can. */
export const slapdMissing: string | undefined = reason(
  [
    ...missingExecutables([SLAPD, SLAPADD, LDAPSEARCH, LDAPMODIFY]),
    ...missingFiles([`${SCHEMA_DIR}/core.ldif`, '/usr/lib/ldap/back_mdb.so']),
    ...opensslMissing,
  ],
  'slapd ldap-utils openssl',
);

/** Why Samba AD tests cannot run here, or undefined when they can. */
export const sambaMissing: string | undefined =
  reason(
    [...missingExecutables([SAMBA, SAMBA_TOOL, LDAPSEARCH]), ...opensslMissing],
    'samba-ad-dc ldap-utils openssl',
  ) ??
  (canBindLowPorts() ? undefined : 'Samba AD needs ports 389/636, which this non-root process may not bind');

export const slapdAvailable = slapdMissing === undefined;
export const sambaAvailable = sambaMissing === undefined;

function gated(what: string, missing: string | undefined, name: string, fn: () => void): void {
  if (missing === undefined) describe(name, fn);
  else if (requireDirectories)
    describe(name, () => {
      it(`needs ${what}`, () => {
        throw new Error(`${what} is required (REEXPORT_REQUIRE_DIRECTORIES=1) but ${missing}`);
      });
    });
  else describe.skip(`${name} (skipped: ${missing})`, fn);
}

/** describe() that runs only where a real slapd can be started. */
export function describeWithSlapd(name: string, fn: () => void): void {
  gated('OpenLDAP slapd', slapdMissing, name, fn);
}

/** describe() that runs only where a real Samba AD DC can be started. */
export function describeWithSamba(name: string, fn: () => void): void {
  gated('Samba AD DC', sambaMissing, name, fn);
}

/**
 * kubectl renders the kustomizations offline (`kubectl kustomize DIR`); no cluster is needed.
 * KUBECTL picks another binary, e.g. to check the old kustomize of Debian's kubectl 1.20.
 */
export const KUBECTL = process.env.KUBECTL ?? which('kubectl') ?? 'kubectl';
export const kubectlMissing: string | undefined = reason(missingExecutables([KUBECTL]), 'kubernetes-client');

/** describe() that runs only where kubectl can render kustomizations. */
export function describeWithKubectl(name: string, fn: () => void): void {
  gated('kubectl', kubectlMissing, name, fn);
}

/** Debian's Chromium; the status page is tested in it (driven by playwright-core, no browser download). */
export const CHROMIUM = '/usr/bin/chromium';
export const chromiumMissing: string | undefined = reason(missingExecutables([CHROMIUM]), 'chromium');

/** describe() that runs only where slapd and Chromium can be started. */
export function describeWithSlapdAndChromium(name: string, fn: () => void): void {
  gated('OpenLDAP slapd and Chromium', slapdMissing ?? chromiumMissing, name, fn);
}
