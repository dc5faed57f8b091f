/**
 * The Helm chart, rendered by a real helm v3 (`helm template`, `helm lint --strict`; see helm.ts for
 * where the binary comes from). Built-in Kubernetes kinds are validated against the Kubernetes
 * OpenAPI schemas (the kubernetes-models package), the ConfigMap's menshen.yaml against menshen's own
 * config loader, and the rest with the assertions below.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, parseDocument, isMap } from 'yaml';
import { configFromYaml } from '../../src/config/load.js';
import { CHART, REPO, find, helm, kinds, render, renderNotes, type K8sObject, type RenderOptions } from './helm.js';

const SENTINEL = 'helm/menshen/examples/values-sentinel.yaml';
const CLUSTER = 'helm/menshen/examples/values-cluster.yaml';
const ALL = 'test/helm/fixtures/values-all.yaml';

const scenarios: Record<string, RenderOptions> = {
  default: {},
  sentinel: { values: [SENTINEL] },
  cluster: { values: [CLUSTER] },
  'every option on': { values: [ALL] },
};

// ---------------------------------------------------------------------------------------------
// Kubernetes schema validation (kubernetes-models: the OpenAPI schemas compiled to validators).
// ---------------------------------------------------------------------------------------------
const CRD_KINDS = new Set(['monitoring.coreos.com/v1/ServiceMonitor', 'gateway.networking.k8s.io/v1/HTTPRoute']);

async function schemaErrors(o: K8sObject): Promise<string | null> {
  const id = `${o.apiVersion}/${o.kind}`;
  if (CRD_KINDS.has(id)) return null; // checked field by field below
  let mod: Record<string, new (data: unknown) => { validate(): void }>;
  try {
    // The specifier is built at run time on purpose: typecheck must not need the package.
    const specifier = ['kubernetes-models', o.apiVersion, o.kind].join('/');
    mod = (await import(specifier)) as typeof mod;
  } catch (err) {
    throw new Error(
      `cannot load the schema of ${id} from kubernetes-models (devDependency kubernetes-models@4.5.1): ${(err as Error).message}`,
    );
  }
  const Model = mod[o.kind];
  if (!Model) throw new Error(`kubernetes-models has no ${id}`);
  try {
    new Model(o).validate();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function envFromSecret(objects: K8sObject[]): Record<string, string> {
  const secret = find(objects, 'Secret');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries((secret?.data ?? {}) as Record<string, string>)) env[k] = Buffer.from(v, 'base64').toString();
  return env;
}

function menshenYaml(objects: K8sObject[]): Record<string, any> {
  const cm = find(objects, 'ConfigMap');
  if (!cm) throw new Error('no ConfigMap');
  return parseYaml(cm.data['menshen.yaml'] as string) as Record<string, any>;
}

function deployment(objects: K8sObject[]): K8sObject {
  const d = objects.find((o) => o.kind === 'Deployment' && !o.metadata.name.endsWith('-redis'));
  if (!d) throw new Error('no menshen Deployment');
  return d;
}

// ---------------------------------------------------------------------------------------------

t.test('helm lint --strict passes for every scenario', async (t) => {
  for (const [name, o] of Object.entries(scenarios)) {
    const args = ['lint', '--strict', CHART];
    for (const f of o.values ?? []) args.push('--values', join(REPO, f));
    const r = await helm(args);
    t.equal(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
  }
});

for (const [name, o] of Object.entries(scenarios)) {
  t.test(`${name}: every template renders valid Kubernetes objects`, async (t) => {
    const { objects } = await render(o);
    t.ok(objects.length >= 6, `${objects.length} objects: ${kinds(objects).join(', ')}`);
    const seen = new Set<string>();
    for (const obj of objects) {
      const id = `${obj.kind}/${obj.metadata?.name}`;
      t.type(obj.apiVersion, 'string', `${id}: apiVersion`);
      t.type(obj.kind, 'string', `${id}: kind`);
      t.type(obj.metadata?.name, 'string', `${id}: metadata.name`);
      t.match(obj.metadata.name, DNS_SUBDOMAIN, `${id}: name is a DNS subdomain`);
      t.ok(obj.metadata.name.length <= 63, `${id}: name fits 63 characters`);
      t.notOk(seen.has(id), `${id} is rendered once`);
      seen.add(id);
      t.equal(obj.metadata.namespace, 'auth', `${id}: release namespace`);
      for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) {
        t.ok(typeof v === 'string' && v.length <= 63 && /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]?$/.test(v), `${id}: label ${k}=${v}`);
      }
      t.equal(await schemaErrors(obj), null, `${id}: matches the Kubernetes schema`);
    }
    // Every Service selects pods that some workload in the release creates.
    for (const svc of objects.filter((x) => x.kind === 'Service')) {
      const sel = svc.spec.selector as Record<string, string>;
      const target = objects.find(
        (x) => x.kind === 'Deployment' && Object.entries(sel).every(([k, v]) => x.spec.template.metadata.labels[k] === v),
      );
      t.ok(target, `Service/${svc.metadata.name} selects ${target?.metadata.name}`);
      for (const p of svc.spec.ports as { targetPort: string }[]) {
        const ports = (target?.spec.template.spec.containers as { ports: { name: string }[] }[]).flatMap((c) => c.ports);
        t.ok(ports.some((cp) => cp.name === p.targetPort), `Service/${svc.metadata.name} targetPort ${p.targetPort} exists`);
      }
    }
    // Nothing but the menshen Deployment's pods match its selector (the test pod, bundled Redis don't).
    const d = deployment(objects);
    const sel = d.spec.selector.matchLabels as Record<string, string>;
    for (const other of objects.filter((x) => x !== d)) {
      const labels = (other.kind === 'Deployment' ? other.spec.template.metadata.labels : other.kind === 'Pod' ? other.metadata.labels : null) as
        | Record<string, string>
        | null;
      if (labels) t.notOk(Object.entries(sel).every(([k, v]) => labels[k] === v), `${other.kind}/${other.metadata.name} is outside the selector`);
    }
  });

  t.test(`${name}: the Deployment is production-shaped`, async (t) => {
    const { objects } = await render(o);
    const d = deployment(objects);
    const pod = d.spec.template.spec;
    const c = pod.containers.find((x: { name: string }) => x.name === 'menshen');
    const httpPort = c.ports.find((p: { name: string }) => p.name === 'http');
    t.ok(httpPort, 'container port named http');
    for (const [probe, path] of [
      ['livenessProbe', '/healthz'],
      ['startupProbe', '/healthz'],
      ['readinessProbe', '/readyz'],
    ] as const) {
      t.equal(c[probe]?.httpGet?.path, path, `${probe} GET ${path}`);
      const port = c[probe]?.httpGet?.port;
      t.ok(port === 'http' || port === httpPort.containerPort, `${probe} on the container port (${port})`);
    }
    const cfg = menshenYaml(objects);
    t.equal(cfg.server.listen, `0.0.0.0:${httpPort.containerPort}`, 'server.listen is the container port');
    const metricsPort = c.ports.find((p: { name: string }) => p.name === 'metrics');
    t.equal(cfg.server.metricsListen, `0.0.0.0:${metricsPort.containerPort}`, 'server.metricsListen is the metrics port');

    if (o.values?.includes(CLUSTER) || o.values?.includes(ALL)) t.notOk('replicas' in d.spec, 'replicas left to the HPA');
    else t.ok(d.spec.replicas >= 2, `replicas ${d.spec.replicas} >= 2`);
    t.equal(d.spec.strategy.type, 'RollingUpdate');
    t.equal(d.spec.strategy.rollingUpdate.maxUnavailable, 0, 'maxUnavailable 0');
    t.ok(pod.topologySpreadConstraints?.length >= 1, 'topologySpreadConstraints');
    for (const tsc of pod.topologySpreadConstraints) t.same(tsc.labelSelector.matchLabels, d.spec.selector.matchLabels, 'spread over own pods');

    t.equal(pod.securityContext.runAsNonRoot, true, 'pod runAsNonRoot');
    t.equal(pod.securityContext.runAsUser, 10001, 'pod runAsUser 10001');
    t.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault', 'seccomp RuntimeDefault');
    t.equal(c.securityContext.readOnlyRootFilesystem, true, 'readOnlyRootFilesystem');
    t.equal(c.securityContext.allowPrivilegeEscalation, false, 'no privilege escalation');
    t.same(c.securityContext.capabilities.drop, ['ALL'], 'drops ALL capabilities');
    t.equal(c.securityContext.runAsNonRoot, true, 'container runAsNonRoot');
    t.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory, 'resources');
    t.equal(pod.automountServiceAccountToken, false, 'no API token in the pod');

    const mounts = Object.fromEntries(c.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, m.name]));
    const volumes = Object.fromEntries(pod.volumes.map((v: { name: string }) => [v.name, v]));
    t.ok(volumes[mounts['/tmp']]?.emptyDir, 'emptyDir at /tmp');
    t.equal(volumes[mounts['/etc/menshen']]?.configMap?.name, find(objects, 'ConfigMap')?.metadata.name, 'config mounted');
    t.same(c.args, ['serve', '--config', '/etc/menshen/menshen.yaml'], 'menshen serve --config <mounted file>');
    const secretName = c.envFrom[0].secretRef.name;
    const ownSecret = find(objects, 'Secret');
    if (o.values?.includes(SENTINEL)) {
      t.equal(secretName, 'menshen-secrets', 'existingSecret used');
      t.notOk(ownSecret, 'no Secret created with existingSecret');
      t.notOk(d.spec.template.metadata.annotations['checksum/secret'], 'no checksum of a secret the chart does not own');
    } else {
      t.equal(secretName, ownSecret?.metadata.name, 'the chart Secret is the env source');
      t.match(d.spec.template.metadata.annotations['checksum/secret'], /^[0-9a-f]{64}$/);
    }
    t.match(d.spec.template.metadata.annotations['checksum/config'], /^[0-9a-f]{64}$/);
    const grace = pod.terminationGracePeriodSeconds as number;
    const preStop = c.lifecycle?.preStop ? 5 : 0;
    t.ok(grace > preStop + (cfg.server.shutdownTimeout ?? 25), `grace ${grace}s covers preStop + drain`);
  });

  t.test(`${name}: menshen.yaml is valid menshen configuration`, async (t) => {
    const { objects } = await render(o);
    const cfg = menshenYaml(objects);
    t.equal(cfg.store.type, 'redis', 'the chart always uses Redis');
    // With existingSecret the chart cannot know the values: stand-ins for what the example documents.
    const env = o.values?.includes(SENTINEL)
      ? {
          MENSHEN_COOKIE_SECRET: 'x'.repeat(48),
          MENSHEN_JWKS: '{"keys":[{"kty":"oct","k":"AAAA"}]}',
          REDIS_PASSWORD: 'p',
          GATEWAY_CLIENT_SECRET: 'y'.repeat(24),
        }
      : envFromSecret(objects);
    const text = find(objects, 'ConfigMap')?.data['menshen.yaml'] as string;
    let problems = '';
    try {
      configFromYaml(text, env);
    } catch (err) {
      problems = (err as Error).message;
    }
    t.equal(problems, '', 'accepted by menshen check-config rules');
    // Every ${VAR} is provided by the Secret (or, with existingSecret, documented in the example).
    const placeholders = text
      .split('\n')
      .filter((l) => !l.trimStart().startsWith('#'))
      .join('\n')
      .matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g);
    for (const m of placeholders) t.ok(m[1]! in env, `\${${m[1]}} has a value`);
  });

  t.test(`${name}: NOTES.txt renders`, async (t) => {
    const notes = await renderNotes(o);
    t.match(notes, /\/_menshen\/auth/);
    t.match(notes, /rollout status/);
  });
}

t.test('the schema check is not vacuous', async (t) => {
  const d = deployment((await render()).objects);
  t.equal(await schemaErrors(d), null);
  const broken = structuredClone(d);
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
  t.match(await schemaErrors(broken), /containerPort must be integer/);
  const noName = structuredClone(d);
  delete noName.spec.template.spec.containers[0].name;
  t.match(await schemaErrors(noName), /name/, 'a container without a name is refused');
  await t.rejects(schemaErrors({ apiVersion: 'v1', kind: 'NoSuchKind', metadata: { name: 'x' } }), /kubernetes-models/);
});

t.test('store.redis has the right shape per mode', async (t) => {
  const def = menshenYaml((await render()).objects).store.redis;
  t.same(def, { url: 'redis://redis-master:6379/0', keyPrefix: 'menshen:' }, 'default: standalone url');

  const sentinel = menshenYaml((await render({ values: [SENTINEL] })).objects).store.redis;
  t.same(Object.keys(sentinel).sort(), ['keyPrefix', 'sentinel']);
  t.equal(sentinel.sentinel.name, 'mymaster');
  t.equal(sentinel.sentinel.nodes.length, 3);
  t.equal(sentinel.sentinel.password, '${REDIS_PASSWORD}');
  t.notOk('sentinelPassword' in sentinel.sentinel);

  const sentinelOpts = menshenYaml(
    (
      await render({
        values: [SENTINEL],
        set: { 'redis.sentinel.authEnabled': true, 'redis.sentinel.db': 2, 'redis.sentinel.username': 'sentinel-user', 'redis.tls': true, 'redis.tlsServerName': 'redis.internal' },
      })
    ).objects,
  ).store.redis;
  t.equal(sentinelOpts.sentinel.sentinelPassword, '${REDIS_SENTINEL_PASSWORD}');
  t.equal(sentinelOpts.sentinel.sentinelUsername, 'sentinel-user');
  t.equal(sentinelOpts.sentinel.db, 2);
  t.equal(sentinelOpts.tls, true);
  t.equal(sentinelOpts.tlsServerName, 'redis.internal');

  const cluster = menshenYaml((await render({ values: [CLUSTER] })).objects).store.redis;
  t.same(cluster, {
    cluster: {
      nodes: [
        'redis-cluster-0.redis-cluster-headless.redis.svc.cluster.local:6379',
        'redis-cluster-1.redis-cluster-headless.redis.svc.cluster.local:6379',
        'redis-cluster-2.redis-cluster-headless.redis.svc.cluster.local:6379',
      ],
      password: '${REDIS_PASSWORD}',
    },
    keyPrefix: 'menshen:',
    tls: true,
    tlsCaFile: '/etc/menshen-redis-ca/ca.crt',
    username: 'menshen',
  });

  const urlAuth = await render({ set: { 'redis.auth.enabled': true, 'redis.auth.password': 's3cret', 'redis.url': 'rediss://r:6380/1' } });
  t.same(menshenYaml(urlAuth.objects).store.redis, { url: 'rediss://r:6380/1', password: '${REDIS_PASSWORD}', keyPrefix: 'menshen:' });
  t.equal(envFromSecret(urlAuth.objects).REDIS_PASSWORD, 's3cret', 'password in the Secret, not the ConfigMap');
  t.notMatch(find(urlAuth.objects, 'ConfigMap')?.data['menshen.yaml'], /s3cret/);

  const bundled = await render({ set: { 'redis.bundled.enabled': true } });
  t.same(menshenYaml(bundled.objects).store.redis, { url: 'redis://menshen-redis:6379/0', keyPrefix: 'menshen:' }, 'bundled: its Service');
  t.ok(find(bundled.objects, 'Service', 'menshen-redis'), 'bundled Redis Service');
});

t.test('secrets reach the pod only through the Secret', async (t) => {
  const { objects } = await render({ values: [ALL] });
  const env = envFromSecret(objects);
  t.same(Object.keys(env).sort(), ['GATEWAY_CLIENT_SECRET', 'MENSHEN_COOKIE_SECRET', 'MENSHEN_JWKS', 'REDIS_PASSWORD']);
  const cfgText = find(objects, 'ConfigMap')?.data['menshen.yaml'] as string;
  for (const v of Object.values(env)) t.notOk(cfgText.includes(v), 'no secret value in the ConfigMap');
  const cfg = menshenYaml(objects);
  t.equal(cfg.provider.keys, '${MENSHEN_JWKS}');
  t.equal(cfg.gateway.session.secret, '${MENSHEN_COOKIE_SECRET}');
  const redis = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'gw-redis');
  const args = redis?.spec.template.spec.containers[0].args as string[];
  t.equal(args[args.indexOf('--requirepass') + 1], '$(REDIS_PASSWORD)', 'bundled Redis uses the same password');

  const generated = envFromSecret((await render()).objects).MENSHEN_COOKIE_SECRET ?? '';
  t.ok(generated.length >= 32, 'a generated cookie secret is long enough');

  const existing = await render({ set: { 'secret.existingSecret': 'mine' } });
  t.notOk(find(existing.objects, 'Secret'), 'existingSecret: no Secret rendered');
  t.equal(deployment(existing.objects).spec.template.spec.containers[0].envFrom[0].secretRef.name, 'mine');
});

t.test('checksum annotations follow config and secret values', async (t) => {
  const ann = async (set: Record<string, unknown>) =>
    deployment((await render({ set: { 'secret.cookieSecret': 'c'.repeat(40), ...set } })).objects).spec.template.metadata
      .annotations as Record<string, string>;
  const base = await ann({});
  t.same(await ann({}), base, 'stable across renders');
  t.not((await ann({ 'config.log.level': 'debug' }))['checksum/config'], base['checksum/config'], 'config value change rolls pods');
  t.not(
    (await ann({ 'config.gateway.routes': [{ name: 'b', match: { pathPrefix: '/' }, upstream: 'http://b:1' }] }))['checksum/config'],
    base['checksum/config'],
    'route change rolls pods',
  );
  t.not((await ann({ 'redis.url': 'redis://other:6379/0' }))['checksum/config'], base['checksum/config'], 'Redis change rolls pods');
  t.equal((await ann({ replicaCount: 5 }))['checksum/config'], base['checksum/config'], 'unrelated value: same checksum');
  t.not((await ann({ 'secret.cookieSecret': 'd'.repeat(40) }))['checksum/secret'], base['checksum/secret'], 'secret change rolls pods');
  t.not((await ann({ 'secret.clientSecrets': { X_SECRET: 'v' } }))['checksum/secret'], base['checksum/secret']);
  t.equal((await ann({ 'config.log.level': 'debug' }))['checksum/secret'], base['checksum/secret'], 'config change leaves secret checksum');
});

t.test('optional resources appear only when enabled', async (t) => {
  const def = (await render()).objects;
  t.same(
    kinds(def),
    [
      'ConfigMap/menshen',
      'Deployment/menshen',
      'Pod/menshen-test-readyz',
      'PodDisruptionBudget/menshen',
      'Secret/menshen',
      'Service/menshen',
      'ServiceAccount/menshen',
    ],
    'defaults: the core set only',
  );
  const cases: [string, Record<string, unknown>, string[]][] = [
    ['ingress', { 'ingress.enabled': true }, ['Ingress/menshen']],
    ['httpRoute', { 'httpRoute.enabled': true, 'httpRoute.parentRefs': [{ name: 'gw' }] }, ['HTTPRoute/menshen']],
    ['autoscaling', { 'autoscaling.enabled': true }, ['HorizontalPodAutoscaler/menshen']],
    ['serviceMonitor', { 'metrics.serviceMonitor.enabled': true }, ['ServiceMonitor/menshen']],
    ['networkPolicy', { 'networkPolicy.enabled': true }, ['NetworkPolicy/menshen']],
    ['bundled redis', { 'redis.bundled.enabled': true }, ['Deployment/menshen-redis', 'Service/menshen-redis']],
    ['bundled redis + networkPolicy', { 'redis.bundled.enabled': true, 'networkPolicy.enabled': true }, [
      'Deployment/menshen-redis',
      'NetworkPolicy/menshen',
      'NetworkPolicy/menshen-redis',
      'Service/menshen-redis',
    ]],
  ];
  for (const [name, set, added] of cases) {
    const objs = (await render({ set })).objects;
    t.same(kinds(objs), [...kinds(def), ...added].sort(), `${name}: adds ${added.join(', ')}`);
  }
  const off = (await render({ set: { 'podDisruptionBudget.enabled': false, 'serviceAccount.create': false, 'tests.enabled': false } })).objects;
  t.same(kinds(off), ['ConfigMap/menshen', 'Deployment/menshen', 'Secret/menshen', 'Service/menshen'], 'PDB, SA and test pod can be turned off');
  t.equal(deployment(off).spec.template.spec.serviceAccountName, 'default');

  const noMetrics = (await render({ set: { 'metrics.enabled': false } })).objects;
  t.same(
    find(noMetrics, 'Service')?.spec.ports.map((p: { name: string }) => p.name),
    ['http'],
    'metrics.enabled=false: Service without the metrics port',
  );
  t.equal(menshenYaml(noMetrics).server.metricsListen, '0.0.0.0:9090', '...and /metrics still off the public port');
});

t.test('optional resources are well-formed', async (t) => {
  const { objects } = await render({ values: [ALL] });
  const svc = find(objects, 'Service', 'gw');
  const ing = find(objects, 'Ingress');
  t.equal(ing?.spec.ingressClassName, 'nginx');
  t.equal(ing?.spec.rules[0].http.paths[0].backend.service.name, 'gw');
  t.equal(ing?.spec.rules[0].http.paths[0].backend.service.port.name, 'http');
  t.same(ing?.spec.tls, [{ hosts: ['menshen.example.com'], secretName: 'menshen-tls' }]);

  const route = find(objects, 'HTTPRoute');
  t.equal(route?.apiVersion, 'gateway.networking.k8s.io/v1');
  t.same(route?.spec.parentRefs, [{ name: 'public', namespace: 'gateway-system' }]);
  t.same(route?.spec.hostnames, ['menshen.example.com']);
  t.same(route?.spec.rules[0].backendRefs, [{ name: 'gw', port: svc?.spec.ports[0].port }]);
  t.same(route?.spec.rules[0].matches, [{ path: { type: 'PathPrefix', value: '/' } }]);

  const sm = find(objects, 'ServiceMonitor');
  t.equal(sm?.apiVersion, 'monitoring.coreos.com/v1');
  t.equal(sm?.metadata.labels?.release, 'prom');
  t.same(sm?.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'menshen', 'app.kubernetes.io/instance': 'menshen' });
  t.ok(Object.entries(sm?.spec.selector.matchLabels ?? {}).every(([k, v]) => svc?.metadata.labels?.[k] === v), 'selects the Service');
  t.equal(sm?.spec.endpoints[0].port, 'metrics');
  t.equal(sm?.spec.endpoints[0].path, '/metrics');
  t.ok(svc?.spec.ports.some((p: { name: string }) => p.name === 'metrics'), 'Service exposes the metrics port');

  const hpa = find(objects, 'HorizontalPodAutoscaler');
  t.same(hpa?.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'gw' });
  t.same(
    hpa?.spec.metrics.map((m: { resource: { name: string } }) => m.resource.name),
    ['cpu', 'memory'],
  );

  const np = find(objects, 'NetworkPolicy', 'gw');
  t.same(np?.spec.policyTypes, ['Ingress', 'Egress']);
  t.equal(np?.spec.egress[0].ports[0].port, 53, 'DNS allowed first');
  t.ok(np?.spec.egress.some((e: { ports?: { port: number }[] }) => e.ports?.[0]?.port === 6379), 'egress to the bundled Redis');
  const npRedis = find(objects, 'NetworkPolicy', 'gw-redis');
  t.same(npRedis?.spec.ingress[0].from[0].podSelector.matchLabels, deployment(objects).spec.selector.matchLabels, 'Redis only from menshen');

  const d = deployment(objects);
  const c = d.spec.template.spec.containers[0];
  t.equal(c.image, 'registry.example.com/menshen@sha256:0000000000000000000000000000000000000000000000000000000000000000');
  t.ok(c.env.some((e: { name: string }) => e.name === 'LOG_LEVEL'), 'extraEnv');
  t.ok(c.envFrom.some((e: { configMapRef?: { name: string } }) => e.configMapRef?.name === 'more-env'), 'extraEnvFrom');
  t.ok(c.volumeMounts.some((m: { mountPath: string }) => m.mountPath === '/etc/ssl/extra'), 'extraVolumeMounts');
  t.ok(d.spec.template.spec.volumes.some((v: { name: string }) => v.name === 'ca'), 'extraVolumes');
  t.equal(d.spec.template.metadata.labels.tier, 'edge', 'podLabels');
  t.equal(d.spec.template.metadata.annotations['example.com/scrape'], 'false', 'podAnnotations');
  t.equal(d.metadata.labels?.team, 'identity', 'commonLabels');
  t.equal(d.spec.template.spec.priorityClassName, 'high');

  const redis = find(objects, 'Deployment', 'gw-redis');
  const rc = redis?.spec.template.spec.containers[0];
  t.equal(rc.securityContext.readOnlyRootFilesystem, true, 'bundled Redis: read-only root');
  t.equal(redis?.spec.template.spec.securityContext.runAsNonRoot, true, 'bundled Redis: non-root');
});

t.test('bad values fail at render time with a clear message', async (t) => {
  const cases: [string, RenderOptions, RegExp][] = [
    ['sentinel without nodes', { set: { 'redis.mode': 'sentinel' } }, /redis\.sentinel\.nodes/],
    ['cluster without nodes', { set: { 'redis.mode': 'cluster' } }, /redis\.cluster\.nodes/],
    ['unknown mode', { set: { 'redis.mode': 'ring' } }, /redis\.mode must be url, sentinel or cluster/],
    ['non-redis url', { set: { 'redis.url': 'http://x' } }, /redis\.url must start with redis:\/\//],
    ['auth without password', { set: { 'redis.auth.enabled': true } }, /redis\.auth\.password is required/],
    ['jwks without value', { set: { 'secret.jwks.enabled': true } }, /secret\.jwks\.value/],
    ['bundled with sentinel', { values: [SENTINEL], set: { 'redis.bundled.enabled': true } }, /needs redis\.mode: url/],
    ['bundled with tls', { set: { 'redis.bundled.enabled': true, 'redis.tls': true } }, /bundled Redis does not serve TLS/],
    ['serviceMonitor without metrics', { set: { 'metrics.serviceMonitor.enabled': true, 'metrics.enabled': false } }, /metrics\.enabled/],
    ['httpRoute without parentRefs', { set: { 'httpRoute.enabled': true } }, /httpRoute\.parentRefs/],
    ['same port twice', { set: { 'metrics.port': 8080 } }, /metrics\.port must differ/],
    ['grace period too short', { set: { terminationGracePeriodSeconds: 20 } }, /terminationGracePeriodSeconds/],
    ['bad env name', { set: { 'secret.clientSecrets': { 'not-valid': 'x' } } }, /not a valid environment variable name/],
    ['reserved env name', { set: { 'secret.clientSecrets': { REDIS_PASSWORD: 'x' } } }, /set by the chart itself/],
    ['neither provider nor gateway', { set: { 'config.provider': null, 'config.gateway': null } }, /config\.provider, config\.gateway or both/],
  ];
  for (const [name, o, message] of cases) {
    await t.rejects(render(o), message, name);
  }
});

t.test('provider-only and gateway-only configurations', async (t) => {
  const providerOnly = menshenYaml((await render({ set: { 'config.gateway': null } })).objects);
  t.notOk('gateway' in providerOnly, 'gateway: null removes the section');
  t.ok(providerOnly.provider);
  const gatewayOnly = menshenYaml(
    (await render({ set: { 'config.provider': null, 'config.gateway.oidc.issuer': 'https://login.example.org' } })).objects,
  );
  t.notOk('provider' in gatewayOnly, 'provider: null removes the section');
  t.equal(gatewayOnly.gateway.oidc.issuer, 'https://login.example.org');
  t.equal(configFromYaml(find((await render({ set: { 'config.provider': null, 'config.gateway.oidc.issuer': 'https://login.example.org' } })).objects, 'ConfigMap')?.data['menshen.yaml'], { MENSHEN_COOKIE_SECRET: 'z'.repeat(40) }).provider, undefined);
});

t.test('values.yaml: a comment on every key', async (t) => {
  const text = readFileSync(join(CHART, 'values.yaml'), 'utf8');
  const lines = text.split('\n');
  const lineOf = (offset: number) => text.slice(0, offset).split('\n').length - 1;
  const missing: string[] = [];
  let keys = 0;
  const walk = (node: unknown, path: string): void => {
    // Keys inside sequences (example routes, clients) and flow maps ({ a: 1 }) are data, documented by their parent.
    if (!isMap(node) || node.flow) return;
    for (const pair of node.items) {
      const key = pair.key as { value: unknown; range: [number, number, number] };
      const p = path ? `${path}.${String(key.value)}` : String(key.value);
      const ln = lineOf(key.range[0]);
      let prev = ln - 1;
      while (prev >= 0 && lines[prev]!.trim() === '') prev--;
      const line = lines[ln]!;
      const commented = (prev >= 0 && lines[prev]!.trim().startsWith('#')) || / #/.test(line.slice(line.indexOf(':')));
      keys++;
      if (!commented) missing.push(`line ${ln + 1}: ${p}`);
      walk(pair.value, p);
    }
  };
  const doc = parseDocument(text);
  t.same(doc.errors, [], 'values.yaml parses');
  walk(doc.contents, '');
  t.ok(keys > 100, `${keys} keys checked`);
  t.same(missing, [], 'every key has a comment');
});

t.test('docs/deploy.md: its values snippets render to valid configuration', async (t) => {
  const doc = readFileSync(join(REPO, 'docs/deploy.md'), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const minimal = blocks.find((b) => /^image:/m.test(b) && /^config:/m.test(b));
  const rotation = blocks.find((b) => /MENSHEN_COOKIE_SECRET_OLD/.test(b));
  t.ok(minimal && rotation, 'the minimal values file and the rotation snippet are there');
  const dir = mkdtempSync(join(tmpdir(), 'menshen-docs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'my-values.yaml'), minimal!);
  // the snippet's <new>/<old> stand for real secrets of >= 32 bytes
  writeFileSync(join(dir, 'rotation.yaml'), rotation!.replace('<new>', 'n'.repeat(40)).replace('<old>', 'o'.repeat(40)));
  for (const files of [[join(dir, 'my-values.yaml')], [join(dir, 'my-values.yaml'), join(dir, 'rotation.yaml')]]) {
    const { objects } = await render({ values: files });
    const env = envFromSecret(objects);
    let problems = '';
    try {
      configFromYaml(find(objects, 'ConfigMap')?.data['menshen.yaml'], env);
    } catch (err) {
      problems = (err as Error).message;
    }
    t.equal(problems, '', `${files.length} values file(s): valid menshen.yaml`);
    if (files.length === 2) {
      t.same(menshenYaml(objects).gateway.session.secret, ['${MENSHEN_COOKIE_SECRET}', '${MENSHEN_COOKIE_SECRET_OLD}'], 'rotation list kept');
      t.equal(env.MENSHEN_COOKIE_SECRET_OLD, 'o'.repeat(40));
    }
  }
});
