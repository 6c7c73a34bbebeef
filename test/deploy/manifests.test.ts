/**
 * The Kubernetes manifests are whole: every kustomization under deploy/ is rendered with the real
 * `kubectl kustomize` and the objects are checked against each other and against the daemon config
 * they carry, as an operator's `kubectl apply -k` would meet them. No cluster is needed.
 *
 * Each check is a function returning its problems, so the last block can show that each one fails
 * on a manifest broken the way operators break them.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { describeWithKubectl, KUBECTL } from '../harness/require.js';
import { loadYamlFile } from '../../src/config/load-file.js';
import { formatDiagnostic } from '../../src/shared/diagnostics.js';

const run = promisify(execFile);
const project = path.resolve(import.meta.dirname, '../..');
const deployDir = path.join(project, 'deploy');

/** The daemon's metrics (src/adapters/http/metrics.ts); the dashboard shows each, alerts use some. */
const METRICS = [
  'reexport_passes_total',
  'reexport_previews_total',
  'reexport_executions_total',
  'reexport_changes_total',
  'reexport_queue_length',
  'reexport_last_pass_success',
  'reexport_last_pass_timestamp_seconds',
  'reexport_pass_duration_seconds',
  'reexport_directory_read_seconds',
  'reexport_errors_total',
  'reexport_execution_claim_age_seconds',
  'reexport_preview_age_seconds',
];

/** Rendered objects of every kind, as the yaml package gives them: untyped. */
type Obj = Record<string, ReturnType<typeof parse>>;
type Check = (objects: Obj[]) => string[];

function kustomizations(dir: string): string[] {
  const here = existsSync(path.join(dir, 'kustomization.yaml')) ? [dir] : [];
  const below = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => kustomizations(path.join(dir, e.name)));
  return [...here, ...below];
}

async function render(dir: string): Promise<Obj[]> {
  const out = await run(KUBECTL, ['kustomize', dir], { maxBuffer: 64 * 1024 * 1024 }).catch((err: Error) => {
    throw new Error(`kubectl kustomize ${path.relative(project, dir)} failed: ${err.message}`);
  });
  return parseAllDocuments(out.stdout).map((doc) => {
    if (doc.errors.length) throw new Error(`${dir}: ${doc.errors[0]!.message}`);
    return doc.toJS() as Obj;
  });
}

const named = (objects: Obj[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata?.name === name);
const keysOf = (o: Obj) => new Set(Object.keys({ ...o.data, ...o.binaryData, ...o.stringData }));
const subset = (labels: Record<string, string> = {}, of: Record<string, string> = {}) =>
  Object.keys(labels).length > 0 && Object.entries(labels).every(([k, v]) => of[k] === v);

/** The one Deployment of an application render, its pod spec and its `reexport` container. */
function app(objects: Obj[]) {
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  if (deployments.length !== 1) throw new Error(`expected one Deployment, found ${deployments.length}`);
  const deployment = deployments[0]!;
  const pod = deployment.spec.template.spec as Obj;
  const container = (pod.containers as Obj[]).find((c) => c.name === 'reexport');
  if (!container) throw new Error('the Deployment has no container named reexport');
  return { deployment, pod, container, podLabels: deployment.spec.template.metadata.labels as Obj };
}

type Located = {
  file: string;
  volume: Obj;
  mount: Obj;
  kind: 'Secret' | 'ConfigMap';
  object: Obj;
  key: string;
};
type LocatedOther = { file: string; volume: Obj; mount: Obj; kind: 'other' };

/** Which volume serves `file` inside the container, and which Secret or ConfigMap key holds it. */
function locate(objects: Obj[], file: string): Located | LocatedOther | string {
  const { pod, container } = app(objects);
  const mount = ((container.volumeMounts ?? []) as Obj[])
    .filter((m) =>
      m.subPath ? file === m.mountPath : file.startsWith(`${String(m.mountPath).replace(/\/$/, '')}/`),
    )
    .sort((a, b) => String(b.mountPath).length - String(a.mountPath).length)[0];
  if (!mount) return `${file} is under no volumeMount`;
  const volume = ((pod.volumes ?? []) as Obj[]).find((v) => v.name === mount.name);
  if (!volume) return `${file}: volumeMount ${mount.mountPath} names no defined volume (${mount.name})`;
  const rel = (mount.subPath as string | undefined) ?? path.posix.relative(mount.mountPath, file);
  const source = (volume.secret ?? volume.configMap) as Obj | undefined;
  if (!source) return { file, volume, mount, kind: 'other' };
  const kind = volume.secret ? 'Secret' : 'ConfigMap';
  const name = (volume.secret ? source.secretName : source.name) as string;
  const object = named(objects, kind, name);
  if (!object)
    return `${file}: volume ${volume.name} names ${kind} ${name}, which the render does not define`;
  const key = source.items ? (source.items as Obj[]).find((i) => i.path === rel)?.key : rel;
  if (typeof key !== 'string' || !keysOf(object).has(key))
    return `${file}: ${kind} ${name} (volume ${volume.name} at ${mount.mountPath}) has no key ${rel}`;
  return { file, volume, mount, kind, object, key };
}

/** The daemon config the container is started with: `--config FILE`, read from its ConfigMap. */
function daemonConfig(objects: Obj[]): { file: string; config: Obj } {
  const args = (app(objects).container.args ?? []) as string[];
  const file = args[args.indexOf('--config') + 1];
  if (!args.includes('--config') || !file) throw new Error('the container is not started with --config FILE');
  const at = locate(objects, file);
  if (typeof at === 'string') throw new Error(at);
  if (at.kind !== 'ConfigMap') throw new Error(`${file} does not come from a ConfigMap`);
  return { file, config: parse(at.object.data[at.key] as string) as Obj };
}

const envValue = (objects: Obj[], name: string) =>
  ((app(objects).container.env ?? []) as Obj[]).find((e) => e.name === name)?.value as string | undefined;

/** The files the pod must find, with what may hold each: secrets only ever come from Secrets. */
function filesNamed(
  objects: Obj[],
): Array<{ what: string; file: string; from: Array<Located['kind'] | 'any'> }> {
  const { file: configFile, config } = daemonConfig(objects);
  const abs = (p: string) => path.posix.resolve(path.posix.dirname(configFile), p);
  const out: Array<{ what: string; file: string; from: Array<Located['kind'] | 'any'> }> = [];
  const connections: Array<[string, Obj]> = [
    ...Object.entries((config.targets ?? {}) as Obj).map(
      ([n, t]) => [`targets.${n}`, t as Obj] as [string, Obj],
    ),
    ...Object.entries((config.sources ?? {}) as Obj).map(
      ([n, s]) => [`sources.${n}`, s as Obj] as [string, Obj],
    ),
  ];
  for (const [where, c] of connections) {
    if (c.passwordFile)
      out.push({ what: `${where}.passwordFile`, file: abs(c.passwordFile), from: ['Secret'] });
    if (c.tls?.caFile)
      out.push({ what: `${where}.tls.caFile`, file: abs(c.tls.caFile), from: ['Secret', 'ConfigMap'] });
    if (c.path) out.push({ what: `${where}.path`, file: abs(c.path), from: ['any'] });
  }
  if (config.signing?.keyFile)
    out.push({ what: 'signing.keyFile', file: abs(config.signing.keyFile), from: ['Secret'] });
  if (config.http?.webhookSecretFile)
    out.push({ what: 'http.webhookSecretFile', file: abs(config.http.webhookSecretFile), from: ['Secret'] });
  const ssh = envValue(objects, 'GIT_SSH_COMMAND');
  if (ssh) {
    const words = ssh.split(/\s+/);
    const key = words[words.indexOf('-i') + 1];
    const hosts = words.find((w) => w.startsWith('UserKnownHostsFile='))?.slice('UserKnownHostsFile='.length);
    if (!words.includes('-i') || !key) out.push({ what: 'GIT_SSH_COMMAND -i', file: '(missing)', from: [] });
    else out.push({ what: 'GIT_SSH_COMMAND -i', file: key, from: ['Secret'] });
    if (!hosts) out.push({ what: 'GIT_SSH_COMMAND UserKnownHostsFile', file: '(missing)', from: [] });
    else out.push({ what: 'GIT_SSH_COMMAND UserKnownHostsFile', file: hosts, from: ['Secret', 'ConfigMap'] });
  }
  return out;
}

// ---- the checks -------------------------------------------------------------------------------

const checks: Record<string, Check> = {
  'every Secret, ConfigMap, claim and ServiceAccount the pod references is defined': (objects) => {
    const { pod } = app(objects);
    const problems: string[] = [];
    const need = (kind: string, name: unknown, why: string) => {
      if (typeof name !== 'string' || !named(objects, kind, name))
        problems.push(`${why} names ${kind} ${String(name)}, which the render does not define`);
    };
    for (const v of (pod.volumes ?? []) as Obj[]) {
      if (v.secret) need('Secret', v.secret.secretName, `volume ${v.name}`);
      if (v.configMap) need('ConfigMap', v.configMap.name, `volume ${v.name}`);
      if (v.persistentVolumeClaim)
        need('PersistentVolumeClaim', v.persistentVolumeClaim.claimName, `volume ${v.name}`);
      for (const s of (v.projected?.sources ?? []) as Obj[]) {
        if (s.secret) need('Secret', s.secret.name, `volume ${v.name}`);
        if (s.configMap) need('ConfigMap', s.configMap.name, `volume ${v.name}`);
      }
    }
    for (const c of [...((pod.initContainers ?? []) as Obj[]), ...(pod.containers as Obj[])]) {
      for (const e of (c.envFrom ?? []) as Obj[]) {
        if (e.secretRef) need('Secret', e.secretRef.name, `envFrom of ${c.name}`);
        if (e.configMapRef) need('ConfigMap', e.configMapRef.name, `envFrom of ${c.name}`);
      }
      for (const e of (c.env ?? []) as Obj[]) {
        const ref = (e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef) as Obj | undefined;
        if (!ref) continue;
        const kind = e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap';
        const object = named(objects, kind, ref.name as string);
        if (!object) need(kind, ref.name, `env ${e.name} of ${c.name}`);
        else if (!keysOf(object).has(ref.key as string))
          problems.push(`env ${e.name} of ${c.name}: ${kind} ${ref.name} has no key ${ref.key}`);
      }
    }
    need('ServiceAccount', pod.serviceAccountName, 'the pod');
    return problems;
  },

  'every volumeMount names a defined volume with exactly one source': (objects) => {
    const { pod } = app(objects);
    const volumes = (pod.volumes ?? []) as Obj[];
    const problems = volumes
      .filter((v) => Object.keys(v).filter((k) => k !== 'name').length !== 1)
      .map((v) => `volume ${v.name} has ${Object.keys(v).length - 1} sources`);
    for (const c of [...((pod.initContainers ?? []) as Obj[]), ...(pod.containers as Obj[])])
      for (const m of (c.volumeMounts ?? []) as Obj[])
        if (!volumes.some((v) => v.name === m.name))
          problems.push(
            `${c.name} mounts ${m.mountPath} from volume ${m.name}, which the pod does not define`,
          );
    return problems;
  },

  'every file the daemon config and GIT_SSH_COMMAND name is mounted from a volume holding it': (objects) => {
    const problems: string[] = [];
    for (const { what, file, from } of filesNamed(objects)) {
      const at = locate(objects, file);
      if (typeof at === 'string') problems.push(`${what}: ${at}`);
      else if (!from.includes('any') && !from.includes(at.kind as Located['kind']))
        problems.push(`${what}: ${file} comes from a ${at.volume.name} volume, not a ${from.join(' or ')}`);
      else if (at.kind === 'Secret' && at.mount.readOnly !== true)
        problems.push(`${what}: the Secret volume ${at.volume.name} is not mounted readOnly`);
    }
    // The clone and the journal must outlive the pod, and be writable.
    const workdir = daemonConfig(objects).config.repo?.workdir as string | undefined;
    const at = workdir ? locate(objects, `${workdir.replace(/\/$/, '')}/journal`) : 'repo.workdir is not set';
    if (typeof at === 'string') problems.push(`repo.workdir: ${at}`);
    else if (!at.volume.persistentVolumeClaim || at.mount.readOnly)
      problems.push(`repo.workdir ${workdir} is not on a writable persistent volume claim`);
    return problems;
  },

  'Secret files are readable by the owner and group only': (objects) =>
    ((app(objects).pod.volumes ?? []) as Obj[])
      .filter((v) => v.secret && ((v.secret.defaultMode as number | undefined) ?? 0o644) & 0o007)
      .map((v) => `Secret volume ${v.name} is readable by others (defaultMode ${v.secret.defaultMode})`),

  'the Service selects the pods and targets the named http port': (objects) => {
    const { deployment, container, podLabels } = app(objects);
    const problems: string[] = [];
    if (!subset(deployment.spec.selector?.matchLabels, podLabels))
      problems.push("the Deployment's selector does not match its pod labels");
    const services = objects.filter((o) => o.kind === 'Service');
    if (services.length === 0) problems.push('no Service');
    const portNames = new Set(((container.ports ?? []) as Obj[]).map((p) => p.name as string));
    for (const s of services) {
      if (!subset(s.spec.selector, podLabels))
        problems.push(`Service ${s.metadata.name} selects ${JSON.stringify(s.spec.selector)}, not the pods`);
      for (const p of (s.spec.ports ?? []) as Obj[])
        if (!portNames.has(p.targetPort as string))
          problems.push(
            `Service ${s.metadata.name} port ${p.name} targets ${p.targetPort}, not a named port`,
          );
      if (!((s.spec.ports ?? []) as Obj[]).some((p) => p.name === 'http'))
        problems.push(`Service ${s.metadata.name} has no port named http`);
    }
    return problems;
  },

  "the probes use the container port that is the daemon config's http.port": (objects) => {
    const { container } = app(objects);
    const schema = JSON.parse(readFileSync(path.join(project, 'schemas/daemon-config.schema.json'), 'utf8'));
    const port = (daemonConfig(objects).config.http?.port ??
      schema.properties.http.properties.port.default) as number;
    const ports = (container.ports ?? []) as Obj[];
    const problems: string[] = [];
    if (!ports.some((p) => p.containerPort === port && p.name === 'http'))
      problems.push(`no container port named http is ${port}, the daemon config's http.port`);
    const expected = { livenessProbe: '/healthz', readinessProbe: '/readyz', startupProbe: undefined };
    for (const [probe, probePath] of Object.entries(expected)) {
      const get = container[probe]?.httpGet as Obj | undefined;
      if (!get) {
        if (probe !== 'startupProbe') problems.push(`no ${probe} with httpGet`);
        continue;
      }
      const target =
        typeof get.port === 'number' ? get.port : ports.find((p) => p.name === get.port)?.containerPort;
      if (target !== port) problems.push(`${probe} uses port ${get.port}, not ${port}`);
      if (probePath && get.path !== probePath) problems.push(`${probe} asks ${get.path}, not ${probePath}`);
    }
    // /readyz stays 503 until the first pass ends: readiness must not be mistaken for liveness.
    if (container.livenessProbe?.httpGet?.path === '/readyz') problems.push('liveness must not use /readyz');
    return problems;
  },

  'the pod runs as non-root on a read-only root filesystem without capabilities': (objects) => {
    const { pod, container } = app(objects);
    const sc = { ...pod.securityContext, ...container.securityContext } as Obj;
    const problems: string[] = [];
    if (sc.runAsNonRoot !== true) problems.push('runAsNonRoot is not true');
    if (sc.runAsUser === 0) problems.push('runAsUser is 0');
    if (sc.readOnlyRootFilesystem !== true) problems.push('readOnlyRootFilesystem is not true');
    if (sc.allowPrivilegeEscalation !== false) problems.push('allowPrivilegeEscalation is not false');
    if (!(sc.capabilities?.drop as string[] | undefined)?.includes('ALL'))
      problems.push('capabilities not dropped');
    if (sc.seccompProfile?.type !== 'RuntimeDefault') problems.push('no RuntimeDefault seccomp profile');
    const tmp = locate(objects, '/tmp/x');
    if (typeof tmp === 'string' || !tmp.volume.emptyDir || tmp.mount.readOnly)
      problems.push('no writable emptyDir at /tmp on the read-only root filesystem');
    const sa = named(objects, 'ServiceAccount', pod.serviceAccountName as string);
    if (pod.automountServiceAccountToken !== false && sa?.automountServiceAccountToken !== false)
      problems.push('a service account token is mounted');
    return problems;
  },

  'a NetworkPolicy selects the pods, admits http and limits egress': (objects) => {
    const { podLabels, container } = app(objects);
    const policies = objects.filter(
      (o) => o.kind === 'NetworkPolicy' && subset(o.spec.podSelector?.matchLabels, podLabels),
    );
    if (policies.length === 0) return ['no NetworkPolicy selects the pods'];
    const http = ((container.ports ?? []) as Obj[]).find((p) => p.name === 'http');
    const problems: string[] = [];
    const ingressPorts = policies.flatMap((p) =>
      ((p.spec.ingress ?? []) as Obj[]).flatMap((r) => r.ports ?? []),
    );
    if (!ingressPorts.some((p: Obj) => p.port === 'http' || p.port === http?.containerPort))
      problems.push('no ingress to the http port');
    for (const p of policies) {
      if (!((p.spec.policyTypes ?? []) as string[]).includes('Egress'))
        problems.push(`NetworkPolicy ${p.metadata.name} does not limit egress`);
      const egress = ((p.spec.egress ?? []) as Obj[]).flatMap((r) => (r.ports ?? []) as Obj[]);
      if (((p.spec.egress ?? []) as Obj[]).some((r) => !r.ports))
        problems.push(`NetworkPolicy ${p.metadata.name} has an egress rule open on every port`);
      for (const [port, protocol] of [
        [53, 'UDP'],
        [636, 'TCP'],
        [22, 'TCP'],
      ] as const)
        if (!egress.some((e) => e.port === port && (e.protocol ?? 'TCP') === protocol))
          problems.push(`NetworkPolicy ${p.metadata.name} does not allow ${protocol} ${port} out`);
    }
    return problems;
  },

  'one replica, replaced with Recreate': (objects) => {
    const { deployment } = app(objects);
    const problems: string[] = [];
    if (deployment.spec.replicas !== 1) problems.push(`replicas is ${deployment.spec.replicas}`);
    if (deployment.spec.strategy?.type !== 'Recreate') problems.push('strategy is not Recreate');
    return problems;
  },
};

/** The monitoring objects against the application they watch. */
const monitoringChecks: Record<string, (monitoring: Obj[], base: Obj[]) => string[]> = {
  "the ServiceMonitor selects the reexport Service's http port": (monitoring, base) => {
    const services = base.filter((o) => o.kind === 'Service');
    const monitors = monitoring.filter((o) => o.kind === 'ServiceMonitor');
    if (monitors.length === 0) return ['no ServiceMonitor'];
    return monitors.flatMap((m) => {
      const service = services.find((s) => subset(m.spec.selector?.matchLabels, s.metadata.labels));
      if (!service) return [`ServiceMonitor ${m.metadata.name} selects no Service`];
      const portNames = ((service.spec.ports ?? []) as Obj[]).map((p) => p.name as string);
      return ((m.spec.endpoints ?? []) as Obj[])
        .filter((e) => !portNames.includes(e.port as string) || e.path !== '/metrics')
        .map((e) => `ServiceMonitor endpoint ${e.port}${e.path} is not a Service port serving /metrics`);
    });
  },

  'the alerts cover a failing pass, an incomplete execution, a stale preview and a stuck claim': (
    monitoring,
  ) => {
    const exprs = monitoring
      .filter((o) => o.kind === 'PrometheusRule')
      .flatMap((r) => (r.spec.groups as Obj[]).flatMap((g) => g.rules as Obj[]))
      .map((r) => String(r.expr));
    const wanted = [
      /reexport_last_pass_success == 0/,
      /increase\(reexport_executions_total\{result=~"partial\|refused"\}\[15m\]\) > 0/,
      /reexport_preview_age_seconds > 7200/,
      /reexport_execution_claim_age_seconds > 1800/,
    ];
    return wanted.filter((w) => !exprs.some((e) => w.test(e))).map((w) => `no alert on ${w.source}`);
  },

  "the Grafana dashboard is labelled for the sidecar and shows every metric, and only the daemon's": (
    monitoring,
  ) => {
    const maps = monitoring.filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard);
    if (maps.length !== 1) return [`${maps.length} ConfigMaps carry the grafana_dashboard label`];
    const json = Object.values(maps[0]!.data as Record<string, string>)[0]!;
    const dashboard = JSON.parse(json) as Obj;
    const exprs = (dashboard.panels as Obj[]).flatMap((p) =>
      ((p.targets ?? []) as Obj[]).map((t) => String(t.expr)),
    );
    const rules = monitoring
      .filter((o) => o.kind === 'PrometheusRule')
      .flatMap((r) => (r.spec.groups as Obj[]).flatMap((g) => (g.rules as Obj[]).map((x) => String(x.expr))));
    const used = (list: string[]) =>
      new Set(
        list.flatMap((e) =>
          [...e.matchAll(/reexport_[a-z_]+/g)].map((m) => m[0].replace(/_(sum|count|bucket)$/, '')),
        ),
      );
    const shown = used(exprs);
    return [
      ...METRICS.filter((m) => !shown.has(m)).map((m) => `the dashboard does not show ${m}`),
      ...[...used([...exprs, ...rules])]
        .filter((m) => !METRICS.includes(m))
        .map((m) => `unknown metric ${m}`),
    ];
  },
};

// ---- the tests --------------------------------------------------------------------------------

const dirs = kustomizations(deployDir);
const renders = new Map<string, Obj[]>();
const rel = (d: string) => path.relative(project, d);

describeWithKubectl('deploy/ kustomizations', () => {
  beforeAll(async () => {
    for (const d of dirs) renders.set(d, await render(d));
  });

  it('finds the base, the HR volume overlay and monitoring', () => {
    expect(dirs.map(rel)).toEqual(
      expect.arrayContaining(['deploy/base', 'deploy/overlays/hr-volume', 'deploy/monitoring']),
    );
  });

  it.each(dirs.map(rel))('%s renders with kubectl kustomize', (d) => {
    expect(renders.get(path.join(project, d))!.length).toBeGreaterThan(0);
  });

  const applications = dirs.filter((d) => !d.endsWith('monitoring')).map(rel);
  for (const [name, check] of Object.entries(checks))
    it.each(applications)(`%s: ${name}`, (d) => {
      expect(check(renders.get(path.join(project, d))!)).toEqual([]);
    });

  it.each(applications)('%s: the daemon config in the ConfigMap is valid for this version', async (d) => {
    const { config } = daemonConfig(renders.get(path.join(project, d))!);
    const dir = await mkdtemp(path.join(tmpdir(), 'reexport-k8s-config-'));
    try {
      await writeFile(path.join(dir, 'config.yaml'), stringify(config));
      // The schema only: the files it names exist in the pod, not here.
      const checked = await loadYamlFile(path.join(dir, 'config.yaml'), 'config.yaml', 'daemon-config');
      expect(checked.diagnostics.map(formatDiagnostic)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the HR volume overlay mounts sources.hr.path from the reexport-hr claim', () => {
    const objects = renders.get(path.join(deployDir, 'overlays/hr-volume'))!;
    const at = locate(objects, daemonConfig(objects).config.sources.hr.path as string);
    expect(typeof at === 'string' ? at : at.volume.persistentVolumeClaim?.claimName).toBe('reexport-hr');
    expect(named(objects, 'PersistentVolumeClaim', 'reexport-hr')?.spec.accessModes).toEqual([
      'ReadOnlyMany',
    ]);
  });

  for (const [name, check] of Object.entries(monitoringChecks))
    it(`deploy/monitoring: ${name}`, () => {
      const monitoring = renders.get(path.join(deployDir, 'monitoring'))!;
      expect(check(monitoring, renders.get(path.join(deployDir, 'base'))!)).toEqual([]);
    });

  // ---- each check fails on a broken manifest ---------------------------------------------------

  const broken = (edit: (objects: Obj[]) => void) => {
    const objects = structuredClone(renders.get(path.join(deployDir, 'base'))!);
    edit(objects);
    return objects;
  };
  const editConfig = (objects: Obj[], edit: (config: Obj) => void) => {
    const map = objects.find((o) => o.kind === 'ConfigMap' && o.data?.['config.yaml'])!;
    const config = parse(map.data['config.yaml'] as string) as Obj;
    edit(config);
    map.data['config.yaml'] = stringify(config);
  };
  const deploymentOf = (objects: Obj[]) => app(objects);
  const env = (objects: Obj[], name: string) =>
    (deploymentOf(objects).container.env as Obj[]).find((e) => e.name === name)!;

  const breakages: Array<[string, string, (objects: Obj[]) => void]> = [
    [
      Object.keys(checks)[0]!,
      'a Secret left out',
      (o) =>
        o.splice(
          o.findIndex((x) => x.kind === 'Secret'),
          1,
        ),
    ],
    [
      Object.keys(checks)[0]!,
      'the claim left out',
      (o) =>
        o.splice(
          o.findIndex((x) => x.kind === 'PersistentVolumeClaim'),
          1,
        ),
    ],
    [
      Object.keys(checks)[0]!,
      'an env valueFrom to a missing key',
      (o) =>
        (deploymentOf(o).container.env as Obj[]).push({
          name: 'X',
          valueFrom: {
            secretKeyRef: { name: o.find((x) => x.kind === 'Secret')!.metadata.name, key: 'nope' },
          },
        }),
    ],
    [
      Object.keys(checks)[1]!,
      'a mount of an undefined volume',
      (o) => (deploymentOf(o).container.volumeMounts[0].name = 'gone'),
    ],
    [
      Object.keys(checks)[1]!,
      'a volume with two sources',
      (o) => (deploymentOf(o).pod.volumes[0].emptyDir = {}),
    ],
    [
      Object.keys(checks)[2]!,
      'signing.keyFile moved',
      (o) => editConfig(o, (c) => (c.signing.keyFile = '/run/secrets/x/key.pem')),
    ],
    [
      Object.keys(checks)[2]!,
      'the password file under a ConfigMap',
      (o) => editConfig(o, (c) => (c.targets.ad.passwordFile = '/etc/reexport/directory-ca.pem')),
    ],
    [
      Object.keys(checks)[2]!,
      'the CA missing from its ConfigMap',
      (o) => editConfig(o, (c) => (c.targets.ad.tls.caFile = 'ca.pem')),
    ],
    [
      Object.keys(checks)[2]!,
      'the HR source path unmounted',
      (o) => editConfig(o, (c) => (c.sources.hr.path = '/srv/hr.csv')),
    ],
    [
      Object.keys(checks)[2]!,
      "GIT_SSH_COMMAND's key renamed",
      (o) =>
        (env(o, 'GIT_SSH_COMMAND').value = String(env(o, 'GIT_SSH_COMMAND').value).replace(
          'id_ed25519',
          'id_rsa',
        )),
    ],
    [
      Object.keys(checks)[2]!,
      'known_hosts dropped from GIT_SSH_COMMAND',
      (o) => (env(o, 'GIT_SSH_COMMAND').value = 'ssh -i /run/secrets/reexport-git/id_ed25519'),
    ],
    [
      Object.keys(checks)[2]!,
      'the workdir on /tmp',
      (o) => editConfig(o, (c) => (c.repo.workdir = '/tmp/work')),
    ],
    [
      Object.keys(checks)[3]!,
      'a Secret readable by all',
      (o) => ((deploymentOf(o).pod.volumes as Obj[]).find((v) => v.secret)!.secret.defaultMode = 0o644),
    ],
    [
      Object.keys(checks)[4]!,
      'the Service selecting other pods',
      (o) => (o.find((x) => x.kind === 'Service')!.spec.selector = { app: 'x' }),
    ],
    [
      Object.keys(checks)[4]!,
      'the Service targeting an unnamed port',
      (o) => (o.find((x) => x.kind === 'Service')!.spec.ports[0].targetPort = 'web'),
    ],
    [
      Object.keys(checks)[5]!,
      'http.port changed in the config only',
      (o) => editConfig(o, (c) => (c.http.port = 8080)),
    ],
    [
      Object.keys(checks)[5]!,
      'a probe on another port',
      (o) => (deploymentOf(o).container.readinessProbe.httpGet.port = 8080),
    ],
    [
      Object.keys(checks)[6]!,
      'a writable root filesystem',
      (o) => delete deploymentOf(o).container.securityContext.readOnlyRootFilesystem,
    ],
    [
      Object.keys(checks)[6]!,
      'root allowed',
      (o) => {
        delete deploymentOf(o).pod.securityContext.runAsNonRoot;
        delete deploymentOf(o).container.securityContext.runAsNonRoot;
      },
    ],
    [
      Object.keys(checks)[7]!,
      'a NetworkPolicy for other pods',
      (o) => (o.find((x) => x.kind === 'NetworkPolicy')!.spec.podSelector = { matchLabels: { app: 'x' } }),
    ],
    [
      Object.keys(checks)[7]!,
      'egress open on every port',
      (o) => o.find((x) => x.kind === 'NetworkPolicy')!.spec.egress.push({}),
    ],
    [Object.keys(checks)[8]!, 'two replicas', (o) => (deploymentOf(o).deployment.spec.replicas = 2)],
  ];

  it.each(breakages)('%s: fails on %s', (name, _what, edit) => {
    expect(checks[name]!(broken(edit))).not.toEqual([]);
  });

  it('every check is shown to fail on a broken manifest', () => {
    expect(new Set(breakages.map(([name]) => name))).toEqual(new Set(Object.keys(checks)));
  });

  const monitoringBreakages: Array<[string, string, (monitoring: Obj[]) => void]> = [
    [
      Object.keys(monitoringChecks)[0]!,
      'the ServiceMonitor on a port the Service lacks',
      (m) => (m.find((x) => x.kind === 'ServiceMonitor')!.spec.endpoints[0].port = 'metrics'),
    ],
    [
      Object.keys(monitoringChecks)[1]!,
      'an alert dropped',
      (m) => void m.find((x) => x.kind === 'PrometheusRule')!.spec.groups[0].rules.pop(),
    ],
    [
      Object.keys(monitoringChecks)[2]!,
      'a misspelt metric in the dashboard',
      (m) => {
        const map = m.find((x) => x.metadata.labels?.grafana_dashboard)!;
        const key = Object.keys(map.data as Obj)[0]!;
        map.data[key] = String(map.data[key]).replaceAll('reexport_queue_length', 'reexport_queue_size');
      },
    ],
  ];

  it.each(monitoringBreakages)('deploy/monitoring: %s: fails on %s', (name, _what, edit) => {
    const monitoring = structuredClone(renders.get(path.join(deployDir, 'monitoring'))!);
    edit(monitoring);
    expect(monitoringChecks[name]!(monitoring, renders.get(path.join(deployDir, 'base'))!)).not.toEqual([]);
  });
});
