/**
 * Reads the YAML file, replaces ${VAR} / ${VAR:-default} from the environment, applies schema
 * defaults and validates. The only module that reads process.env for configuration.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { Value } from '@sinclair/typebox/value';
import { ConfigSchema, type Config } from './schema.js';
import { ConfigError, type ConfigProblem, validateSemantics } from './validate.js';

export const DEFAULT_CONFIG_PATH = 'config/menshen.yaml';

export function resolveConfigPath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.MENSHEN_CONFIG ?? DEFAULT_CONFIG_PATH;
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces ${VAR} in every string scalar; a scalar that is only an unset ${VAR} becomes absent. */
export function substituteEnv(
  node: unknown,
  env: NodeJS.ProcessEnv,
  problems: ConfigProblem[],
  path = '',
): unknown {
  if (typeof node === 'string') {
    const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(node);
    if (whole && env[whole[1]!] === undefined) {
      problems.push({ path, message: `environment variable ${whole[1]} is not set (use \${${whole[1]}:-default} for a default)` });
      return undefined;
    }
    return node.replace(VAR, (_m, name: string, def: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      if (v === undefined) problems.push({ path, message: `environment variable ${name} is not set` });
      return '';
    });
  }
  if (Array.isArray(node)) return node.map((v, i) => substituteEnv(v, env, problems, `${path}[${i}]`));
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      const sub = substituteEnv(v, env, problems, path ? `${path}.${k}` : k);
      if (sub !== undefined) out[k] = sub;
    }
    return out;
  }
  return node;
}

/** `/gateway/routes/2/upstream` -> `gateway.routes[2].upstream` */
export function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  }
  return out || '(root)';
}

/** Builds a validated, frozen Config from already-parsed YAML; throws ConfigError listing every problem. */
export function configFromObject(raw: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  const problems: ConfigProblem[] = [];
  const substituted = substituteEnv(raw ?? {}, env, problems);
  const withDefaults = Value.Default(ConfigSchema, Value.Clone(substituted));
  for (const e of Value.Errors(ConfigSchema, withDefaults)) {
    // Union errors repeat once per branch; keep the first message per path.
    const path = pointerToPath(e.path);
    if (!problems.some((p) => p.path === path)) problems.push({ path, message: describeError(e.schema, e.message) });
  }
  // Semantic checks assume the schema's types; with schema errors they run best-effort so that
  // one run still lists as many problems as possible.
  const schemaProblems = [...problems];
  try {
    for (const p of validateSemantics(withDefaults as Config))
      if (!schemaProblems.some((q) => p.path.startsWith(q.path) || q.path.startsWith(p.path))) problems.push(p);
  } catch {
    // a shape the schema already reported
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(withDefaults as Config);
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '(file)', message: `cannot read ${file}: ${(err as Error).message}` }]);
  }
  return configFromYaml(text, env);
}

export function configFromYaml(text: string, env: NodeJS.ProcessEnv = process.env): Config {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError([{ path: '(yaml)', message: (err as Error).message.split('\n')[0]! }]);
  }
  return configFromObject(raw, env);
}

/** A choice of literals reads better as its allowed values than as TypeBox's "expected union value". */
function describeError(schema: unknown, message: string): string {
  const anyOf = (schema as { anyOf?: Array<{ const?: unknown }> }).anyOf;
  if (anyOf?.length && anyOf.every((s) => s.const !== undefined))
    return `must be one of: ${anyOf.map((s) => String(s.const)).join(', ')}`;
  return message.toLowerCase();
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
