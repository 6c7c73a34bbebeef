/**
 * Entries slapd sent back in searches since `from` in its output (debugLevel 'stats' logs
 * `SEARCH RESULT … nentries=N`): what a reader really received, whatever it reports itself.
 */
export function entriesSent(output: string, from = 0): number {
  return [...output.slice(from).matchAll(/SEARCH RESULT .*?nentries=(\d+)/g)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
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
