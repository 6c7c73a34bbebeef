import type { ConnectionConfig } from '../../src/adapters/ldap/connection.js';
import { resolveDaemonConfig } from '../../src/config/daemon-config.js';
import type { Target } from '../../src/config/types.generated.js';

/**
 * A target's connection as loadDaemonConfig resolves it (schema defaults filled in, file paths
 * against `configFile`'s folder), for tests that open a directory without a daemon config file.
 */
export function resolvedConnection(
  conn: Omit<Target, 'allowedAttributes'>,
  configFile: string,
): ConnectionConfig {
  const config = resolveDaemonConfig(
    {
      apiVersion: 'reexport/v1',
      kind: 'DaemonConfig',
      targets: { t: { ...conn, allowedAttributes: ['cn'] } },
    },
    configFile,
  );
  return config.targets.t!;
}
