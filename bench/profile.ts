/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per module, and
 * inclusive time of the project's own functions, so hot spots in src/ stand out.
 */
import { readFile } from 'node:fs/promises';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileRow {
  name: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  totalMs: number;
  byModule: ProfileRow[];
  selfTop: ProfileRow[];
  /** Inclusive (self + callees) time of functions defined in src/. */
  srcInclusive: ProfileRow[];
}

/** Groups a script URL: src/<file>, a package under node_modules, node internals, or a V8 pseudo-frame. */
export function moduleOf(url: string, functionName: string): string {
  if (!url) return `(${functionName.replace(/[()]/g, '') || 'anonymous'})`;
  // The project's own code, whether run from src/*.ts (tsx) or from a compiled dist/*.js.
  const src = /\/(?:src|dist)\/([^?]+)\.(?:ts|js)(?:\?.*)?$/.exec(url);
  if (src && !url.includes('node_modules')) return `src/${src[1]}.ts`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node internals';
  return url.replace(/^file:\/\//, '');
}

/** Function and module; line numbers are left out, since they are of transpiled code. */
function frameName(f: CallFrame): string {
  const where = f.url ? moduleOf(f.url, f.functionName) : '';
  return `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
}

export async function summariseProfile(file: string, top = 20): Promise<ProfileSummary> {
  const p = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to the sample, as DevTools does.
  for (let i = 0; i < p.samples.length; i++)
    selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  const byModule = new Map<string, number>();
  const selfByFn = new Map<string, number>();
  const inclusiveSrc = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    add(byModule, moduleOf(node.callFrame.url, node.callFrame.functionName), us);
    add(selfByFn, frameName(node.callFrame), us);
    // Inclusive: every src/ function on this stack, counted once per stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (!f.url || !moduleOf(f.url, f.functionName).startsWith('src/')) continue;
      const key = frameName(f);
      if (seen.has(key)) continue;
      seen.add(key);
      add(inclusiveSrc, key, us);
    }
  }
  const rows = (m: Map<string, number>, n: number): ProfileRow[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, pct: (100 * us) / totalUs }));
  return {
    totalMs: totalUs / 1000,
    byModule: rows(byModule, top),
    selfTop: rows(selfByFn, top),
    srcInclusive: rows(inclusiveSrc, top),
  };
}
