/**
 * The Dockerfile, without a Docker engine (none runs here):
 *  - statically: Node 22 bases, a non-root numeric USER, exec-form ENTRYPOINT/CMD, a HEALTHCHECK on
 *    /healthz that needs nothing but node, every COPY source present in the repository and let
 *    through by .dockerignore, every COPY --from naming an earlier stage;
 *  - by replaying it: the build stage's files (exactly what its COPY lines and .dockerignore let in)
 *    compile with `npm run build`'s tsc; the runtime stage's layout (package.json, production
 *    dependencies only, as `npm ci --omit=dev` picks them from package-lock.json, dist/) runs
 *    `check-config` and `serve`, the image's own HEALTHCHECK command passes against it, SIGTERM
 *    exits 0, and nothing is written inside the app directory.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { REPO } from './helm.js';

// ---------------------------------------------------------------------------------------------
// A small Dockerfile reader: parser directives and comments dropped, continuations joined.
// ---------------------------------------------------------------------------------------------
export interface Instruction {
  cmd: string;
  rest: string;
  line: number;
}

export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  let buf = '';
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (!buf && /^\s*(#|$)/.test(raw)) continue;
    if (buf && /^\s*#/.test(raw)) continue; // comment lines inside a continued instruction
    if (!buf) start = i + 1;
    if (/\\\s*$/.test(raw)) {
      buf += raw.replace(/\\\s*$/, '') + ' ';
      continue;
    }
    buf += raw;
    const m = /^\s*(\S+)\s*(.*)$/.exec(buf)!;
    out.push({ cmd: m[1]!.toUpperCase(), rest: m[2]!.trim(), line: start });
    buf = '';
  }
  return out;
}

interface Stage {
  name: string;
  image: string;
  instructions: Instruction[];
}

function stages(ins: Instruction[]): Stage[] {
  const args: Record<string, string> = {};
  const out: Stage[] = [];
  for (const i of ins) {
    if (i.cmd === 'ARG' && out.length === 0) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(i.rest);
      if (m) args[m[1]!] = (m[2] ?? '').replace(/^"(.*)"$/, '$1');
    } else if (i.cmd === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.rest);
      if (!m) throw new Error(`line ${i.line}: cannot read FROM ${i.rest}`);
      const image = m[1]!.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_s, n: string) => args[n] ?? '');
      out.push({ name: m[2] ?? String(out.length), image, instructions: [] });
    } else if (out.length) {
      out[out.length - 1]!.instructions.push(i);
    }
  }
  return out;
}

interface Copy {
  from?: string;
  sources: string[];
  dest: string;
  line: number;
}

function copies(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.cmd === 'COPY' || i.cmd === 'ADD')
    .map((i) => {
      let words: string[];
      if (i.rest.includes('[')) {
        const flags = i.rest.slice(0, i.rest.indexOf('[')).trim().split(/\s+/).filter(Boolean);
        words = [...flags, ...(JSON.parse(i.rest.slice(i.rest.indexOf('['))) as string[])];
      } else {
        words = i.rest.split(/\s+/);
      }
      const flags = words.filter((w) => w.startsWith('--'));
      const paths = words.filter((w) => !w.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1]!, line: i.line };
    });
}

// ---------------------------------------------------------------------------------------------
// .dockerignore, as BuildKit reads it: the last matching pattern wins, a pattern matching a parent
// directory matches what is inside it, `!` re-includes.
// ---------------------------------------------------------------------------------------------
function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const p = posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+/, '').replace(/\/+$/, '');
      return { negate, re: globToRegExp(p) };
    });
  return (path: string) => {
    const parts = path.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const r of rules) if (candidates.some((c) => r.re.test(c))) excluded = !r.negate;
    return excluded;
  };
}

function filesUnder(root: string, rel: string): string[] {
  const abs = join(root, rel);
  if (!statSync(abs).isDirectory()) return [rel];
  return readdirSync(abs).flatMap((e) => filesUnder(root, rel ? `${rel}/${e}` : e));
}

// ---------------------------------------------------------------------------------------------

const text = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
const ins = parseDockerfile(text);
const all = stages(ins);
const final = all[all.length - 1]!;
const ignored = dockerignore(readFileSync(join(REPO, '.dockerignore'), 'utf8'));
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };

const exec = (stage: Stage, cmd: string) => stage.instructions.filter((i) => i.cmd === cmd);
const last = (stage: Stage, cmd: string) => exec(stage, cmd).at(-1);

t.test('the .dockerignore reader follows BuildKit rules', async (t) => {
  const m = dockerignore('**\n!src/\n!src/**\n**/.env\n!package.json\nnode_modules\n');
  t.equal(m('src/main.ts'), false);
  t.equal(m('src/a/b.ts'), false);
  t.equal(m('src/.env'), true);
  t.equal(m('test/x.test.ts'), true);
  t.equal(m('package.json'), false);
  t.equal(m('node_modules/x/package.json'), true);
  const d = dockerignore('node_modules\n*.md\n!README.md\n');
  t.equal(d('node_modules/a'), true);
  t.equal(d('CHANGES.md'), true);
  t.equal(d('README.md'), false);
  t.equal(d('docs/x.md'), false, '*.md is anchored at the context root');
});

t.test('base images are Node 22 LTS, stages are named', async (t) => {
  t.ok(all.length >= 2, 'multi-stage');
  for (const s of all) {
    if (all.some((o) => o.name === s.image)) continue; // FROM an earlier stage
    t.match(s.image, /^node:22(\.\d+)*(-(bookworm-slim|bookworm|alpine[\d.]*|slim))?(@sha256:[0-9a-f]{64})?$/, `${s.name}: ${s.image}`);
    t.notMatch(s.name, /^\d+$/, `stage ${s.image} has a name`);
  }
  t.match(final.image, /slim|alpine/, 'small runtime base');
});

t.test('build stage builds with dev dependencies; runtime gets production ones only', async (t) => {
  const build = all.find((s) => exec(s, 'RUN').some((r) => /npm run build/.test(r.rest)));
  t.ok(build, 'a stage runs npm run build');
  t.ok(exec(build!, 'RUN').some((r) => /npm ci(?![^&]*--omit=dev)/.test(r.rest)), 'it installs with dev dependencies (npm ci)');
  t.equal(pkg.scripts.build, 'tsc -p tsconfig.json', 'npm run build is tsc');
  const fromStages = copies(final).filter((c) => c.from);
  const nm = fromStages.find((c) => c.sources.some((s) => s.endsWith('/node_modules')));
  t.ok(nm, 'runtime copies node_modules from a stage');
  const nmStage = all.find((s) => s.name === nm?.from)!;
  t.ok(
    exec(nmStage, 'RUN').some((r) => /npm ci[^&]*--omit=dev/.test(r.rest)) ||
      exec(nmStage, 'RUN').some((r) => /npm prune[^&]*--omit=dev/.test(r.rest)),
    `${nmStage.name}: production dependencies only (--omit=dev)`,
  );
  t.notOk(exec(final, 'RUN').some((r) => /\bnpm (ci|install|i)\b/.test(r.rest)), 'no install in the runtime stage');
});

t.test('every COPY source exists and is in the build context', async (t) => {
  let n = 0;
  for (const s of all) {
    for (const c of copies(s)) {
      for (const src of c.sources) {
        n++;
        if (c.from) {
          const idx = all.findIndex((o) => o.name === c.from);
          t.ok(idx >= 0 && idx < all.indexOf(s), `line ${c.line}: --from=${c.from} is an earlier stage`);
          t.match(src, /^\/app\//, `line ${c.line}: ${src} is under the stages' WORKDIR /app`);
          t.ok(exec(all[idx]!, 'WORKDIR').some((w) => w.rest === '/app'), `${c.from} works in /app`);
          continue;
        }
        const rel = posix.normalize(src).replace(/^\.\//, '').replace(/\/$/, '');
        t.notMatch(rel, /[*?]/, `line ${c.line}: no globs (${src})`);
        t.ok(existsSync(join(REPO, rel)), `line ${c.line}: ${rel} exists in the repository`);
        if (!existsSync(join(REPO, rel))) continue;
        const files = filesUnder(REPO, rel);
        const excluded = files.filter(ignored);
        t.same(excluded, [], `line ${c.line}: .dockerignore lets ${rel} through (${files.length} files)`);
      }
    }
  }
  t.ok(n >= 5, `${n} COPY sources checked`);
  // The context holds nothing the Dockerfile does not use.
  for (const p of ['node_modules/yaml/package.json', 'dist/src/main.js', 'test/run.ts', '.git/HEAD', 'helm/menshen/Chart.yaml', '.env'])
    t.ok(ignored(p), `${p} stays out of the build context`);
});

t.test('runtime stage: non-root, entry point, health check', async (t) => {
  const user = last(final, 'USER')?.rest ?? '';
  t.match(user, /^10001(:10001)?$/, 'USER is the numeric uid 10001 (runAsNonRoot can verify it)');
  t.ok(exec(final, 'RUN').some((r) => /useradd[^&]*--uid 10001/.test(r.rest) || /adduser[^&]*-u 10001/.test(r.rest)), 'the user exists in /etc/passwd');
  const userLine = last(final, 'USER')!.line;
  t.notOk(final.instructions.some((i) => i.cmd === 'RUN' && i.line > userLine), 'no RUN after USER (nothing built as the runtime user)');

  const entry = JSON.parse(last(final, 'ENTRYPOINT')?.rest ?? 'null') as string[];
  t.same(entry, ['node', '/app/dist/src/main.js'], 'ENTRYPOINT exec form, node directly (it gets SIGTERM)');
  t.equal(`dist/src/main.js`, pkg.bin.menshen, 'ENTRYPOINT is the package bin');
  t.same(JSON.parse(last(final, 'CMD')?.rest ?? 'null'), ['serve'], 'CMD serve');
  t.ok(exec(final, 'WORKDIR').some((w) => w.rest === '/app'), 'WORKDIR /app');

  const hc = last(final, 'HEALTHCHECK')?.rest ?? '';
  t.match(hc, /\/healthz/, 'HEALTHCHECK hits /healthz');
  const cmd = JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim()) as string[];
  t.equal(cmd[0], 'node', 'HEALTHCHECK needs nothing but node (no curl/wget in slim images)');
  t.match(hc, /--timeout=\d+s/);
  t.match(last(final, 'EXPOSE')?.rest ?? '', /\b8080\b/, 'EXPOSE 8080');
  t.match(
    exec(final, 'ENV').map((e) => e.rest).join(' '),
    /MENSHEN_CONFIG=\/etc\/menshen\/menshen\.yaml/,
    'MENSHEN_CONFIG points at the mounted file (the chart mounts it there)',
  );
  t.match(exec(final, 'ENV').map((e) => e.rest).join(' '), /NODE_ENV=production/);
});

// ---------------------------------------------------------------------------------------------
// Replay: build stage, then the runtime layout, then run it.
// ---------------------------------------------------------------------------------------------
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(`${p}:${statSync(p).size}:${statSync(p).mtimeMs}`);
    }
  };
  walk(dir);
  return out.sort();
}

/** Production packages as `npm ci --omit=dev` picks them: lockfile entries not marked dev. */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; devOptional?: boolean; optional?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([p, e]) => p.startsWith('node_modules/') && !e.dev && !e.devOptional)
    .map(([p]) => p)
    .filter((p) => !p.slice('node_modules/'.length).includes('/node_modules/')) // nested ones come with their parent
    .filter((p) => existsSync(join(REPO, p))); // optional packages of other platforms are absent
}

t.test('replaying the stages: it builds, and the runtime layout serves', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'menshen-image-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));

  // build stage: only what the stage COPYs, filtered by .dockerignore; node_modules as npm ci left it.
  const build = all.find((s) => exec(s, 'RUN').some((r) => /npm run build/.test(r.rest)))!;
  const buildDir = join(root, 'build');
  mkdirSync(buildDir);
  for (const c of copies(build)) {
    for (const src of c.sources) {
      const rel = posix.normalize(src).replace(/\/$/, '');
      if (statSync(join(REPO, rel)).isDirectory()) {
        // COPY dir dest: the directory's contents land in dest
        for (const f of filesUnder(REPO, rel).filter((f) => !ignored(f))) {
          const target = join(buildDir, c.dest, f.slice(rel.length + 1));
          mkdirSync(join(target, '..'), { recursive: true });
          cpSync(join(REPO, f), target);
        }
      } else if (!ignored(rel)) {
        // COPY a b ./ : files into the directory dest
        const target = c.dest.endsWith('/') || c.sources.length > 1 ? join(buildDir, c.dest, posix.basename(rel)) : join(buildDir, c.dest);
        mkdirSync(join(target, '..'), { recursive: true });
        cpSync(join(REPO, rel), target);
      }
    }
  }
  symlinkSync(join(REPO, 'node_modules'), join(buildDir, 'node_modules'), 'dir');
  t.notOk(existsSync(join(buildDir, 'test')), 'the build stage sees no tests');
  const tsc = spawnSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
    cwd: buildDir,
    encoding: 'utf8',
  });
  t.equal(tsc.status, 0, 'npm run build (tsc) succeeds in the build stage', { output: `${tsc.stdout}${tsc.stderr}` });
  t.ok(existsSync(join(buildDir, pkg.bin.menshen!)), `${pkg.bin.menshen} is built`);
  if (tsc.status !== 0 || !existsSync(join(buildDir, pkg.bin.menshen!))) return;

  // runtime stage: package.json, production node_modules, dist.
  const app = join(root, 'app');
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  for (const c of copies(final)) {
    for (const src of c.sources) {
      if (!c.from) cpSync(join(REPO, src), join(app, posix.basename(src)));
      else if (src === '/app/dist') cpSync(join(buildDir, 'dist'), join(app, 'dist'), { recursive: true });
    }
  }
  const prod = productionPackages();
  t.ok(prod.includes('node_modules/fastify') && !prod.includes('node_modules/tap'), `${prod.length} production packages, no dev ones`);
  for (const p of prod) cpSync(join(REPO, p), join(app, p), { recursive: true, dereference: true });
  t.ok(existsSync(join(app, 'package.json')), 'package.json ("type": "module") is in the image');

  const port = await freePort();
  const metricsPort = await freePort();
  const cfg = join(root, 'etc/menshen.yaml');
  mkdirSync(join(root, 'etc'));
  writeFileSync(
    cfg,
    [
      'server:',
      `  listen: 127.0.0.1:${port}`,
      `  metricsListen: 127.0.0.1:${metricsPort}`,
      `  publicUrl: http://127.0.0.1:${port}`,
      '  shutdownTimeout: 5',
      'store: { type: memory }',
      'provider:',
      `  issuer: http://127.0.0.1:${port}/idp`,
      '  clients: []',
      '',
    ].join('\n'),
  );
  const writable = join(root, 'tmp');
  mkdirSync(writable);
  const env = { PATH: process.env.PATH ?? '', HOME: '/nonexistent', TMPDIR: writable, NODE_ENV: 'production', MENSHEN_CONFIG: cfg };
  const entry = join(app, 'dist/src/main.js');
  const before = snapshot(app);

  const check = spawnSync(process.execPath, [entry, 'check-config'], { cwd: app, env, encoding: 'utf8' });
  t.equal(check.status, 0, 'check-config accepts a valid file', { stderr: check.stderr });
  writeFileSync(join(root, 'etc/bad.yaml'), 'server: { listen: nowhere }\nstore: { type: memory }\n');
  const bad = spawnSync(process.execPath, [entry, 'check-config', '--config', join(root, 'etc/bad.yaml')], { cwd: app, env, encoding: 'utf8' });
  t.equal(bad.status, 2, 'check-config exits 2 on a bad file');
  t.match(bad.stderr, /server\.listen/);

  // serve: CMD ["serve"] with MENSHEN_CONFIG from the image's ENV.
  const child = spawn(process.execPath, [entry, ...(JSON.parse(last(final, 'CMD')!.rest) as string[])], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  // The image's HEALTHCHECK command, run as Docker would (exec form), until it passes (bounded tries).
  const hc = last(final, 'HEALTHCHECK')!.rest;
  const hcCmd = JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim()) as string[];
  const hcEnv = { ...env, MENSHEN_HEALTHCHECK_URL: `http://127.0.0.1:${port}/healthz` };
  let healthy = false;
  for (let i = 0; i < 100 && !healthy && child.exitCode === null; i++) {
    const r = spawnSync(hcCmd[0] === 'node' ? process.execPath : hcCmd[0]!, hcCmd.slice(1), { env: hcEnv, encoding: 'utf8' });
    healthy = r.status === 0;
    if (!healthy) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(healthy, 'HEALTHCHECK passes against the running server', { output });
  const withoutOverride = spawnSync(process.execPath, hcCmd.slice(1), { env: { ...env, MENSHEN_HEALTHCHECK_URL: `http://127.0.0.1:${metricsPort}/nope` }, encoding: 'utf8' });
  t.not(withoutOverride.status, 0, 'HEALTHCHECK fails when /healthz does not answer 2xx');

  const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => null);
  t.equal(metrics?.status, 200, '/metrics on server.metricsListen');
  t.match(metrics ? await metrics.text() : '', /# TYPE /, 'Prometheus text format');

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM: drains and exits 0', { output });
  t.same(snapshot(app), before, 'nothing written in the app directory (read-only root filesystem)');
});
