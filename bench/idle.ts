/**
 * What an idle pass asks the directory (src/adapters/ldap/change-detection.ts), in-process:
 *
 *   node --import tsx bench/idle.ts <url> <bindDN> <baseDN> <matchAttribute>   (password in REEXPORT_BENCH_LDAP_PASSWORD)
 *
 * Prints one JSON object: milliseconds to read the watermark (done when a preview is made) and
 * the median of five "changed since?" checks (what an idle pass adds per target and template).
 */
import { performance } from 'node:perf_hooks';
import { changeDetector } from '../src/adapters/ldap/change-detection.js';
import { connectionSettings, openDirectory } from '../src/adapters/ldap/connection.js';
import { PASSWORD_ENV } from './data.js';
import { resolvedConnection } from '../test/harness/connection.js';

const [url, bindDN, baseDN, matchAttribute] = process.argv.slice(2);
if (!url || !bindDN || !baseDN || !matchAttribute)
  throw new Error('usage: idle.ts <url> <bindDN> <baseDN> <matchAttribute>');
const scope = { baseDN, scope: 'sub' as const, matchAttribute };
const t0 = performance.now();
const directory = await openDirectory(
  await connectionSettings(
    resolvedConnection({ url, bindDN, passwordEnv: PASSWORD_ENV }, '/daemon.yaml'),
    'target ldap',
  ),
);
const connectMs = performance.now() - t0;
try {
  const detector = changeDetector(directory);
  const t1 = performance.now();
  const watermark = await detector.readWatermark(scope);
  const watermarkMs = performance.now() - t1;
  if (!watermark) throw new Error('the directory offers no watermark');
  const checks: number[] = [];
  let changed = false;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    changed ||= await detector.changedSince(scope, watermark);
    checks.push(performance.now() - t);
  }
  checks.sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({ kind: watermark.kind, connectMs: Math.round(connectMs), watermarkMs: Math.round(watermarkMs), checkMs: Math.round(checks[2]! * 10) / 10, changed })}\n`,
  );
} finally {
  await directory.close();
}
