/**
 * The image's HEALTHCHECK (`node /app/dist/cli/healthcheck.js`): GET /healthz on the port and
 * address the daemon config names, so the check follows the config (REEXPORT_CONFIG, default
 * /etc/reexport/config.yaml) instead of a port written into the image. Missing settings take the
 * defaults of the config's JSON Schema, where they are defined. Exit 0 when the daemon answers
 * 200, 1 otherwise. Kept apart from the CLI so a check every 30 seconds loads next to nothing.
 */
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { parse } from 'yaml';
import type { DaemonConfig } from '../config/types.generated.js';

type Http = NonNullable<DaemonConfig['http']>;

function unhealthy(message: string): never {
  process.stderr.write(`healthcheck: ${message}\n`);
  process.exit(1);
}

function read(file: string | URL): unknown {
  try {
    return parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return unhealthy(`cannot read ${String(file)}: ${String(err)}`);
  }
}

const configFile = process.env.REEXPORT_CONFIG || '/etc/reexport/config.yaml';
const schema = read(new URL('../../schemas/daemon-config.schema.json', import.meta.url)) as {
  properties: { http: { properties: { port: { default: number }; host: { default: string } } } };
};
const http: Http = (read(configFile) as Partial<DaemonConfig> | null)?.http ?? {};
const port = http.port ?? schema.properties.http.properties.port.default;
const host = http.host ?? schema.properties.http.properties.host.default;
// Port 0 lets the daemon pick a free port, which nobody outside it can know.
if (port === 0) unhealthy(`http.port is 0 in ${configFile}: give a fixed port to check`);
// A wildcard listen address is reached through loopback.
const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
const url = `http://${target.includes(':') ? `[${target}]` : target}:${port}/healthz`;

try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  if (!res.ok) unhealthy(`${url} answered ${res.status}`);
} catch (err) {
  unhealthy(`${url}: ${String(err instanceof Error && err.cause ? err.cause : err)}`);
}
