/**
 * Successful modify operations per DN, read from slapd's own `-d stats` log: the ground truth for
 * "applied exactly once", independent of what the product reports about itself.
 */
export function successfulModifies(log: string): Map<string, number> {
  const pending = new Map<string, string>();
  const counts = new Map<string, number>();
  for (const line of log.split('\n')) {
    const mod = /conn=(\d+) op=(\d+) MOD dn="([^"]+)"/.exec(line);
    if (mod) pending.set(`${mod[1]}/${mod[2]}`, mod[3]!.toLowerCase());
    const res = /conn=(\d+) op=(\d+) RESULT tag=103 err=(\d+)/.exec(line);
    const dn = res && pending.get(`${res[1]}/${res[2]}`);
    if (dn && res[3] === '0') counts.set(dn, (counts.get(dn) ?? 0) + 1);
  }
  return counts;
}

/**
 * Modify operations per DN in slapd's auditlog (`Slapd.audit()`): every change the server
 * committed, including one whose client was killed before the answer came back.
 */
export function auditedModifies(audit: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of audit.matchAll(/^# modify \d+ (.+?)(?: \S+=\S+.*)?$\ndn: (.+)$/gm)) {
    const dn = m[2]!.toLowerCase();
    counts.set(dn, (counts.get(dn) ?? 0) + 1);
  }
  return counts;
}
