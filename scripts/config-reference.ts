/**
 * Prints the configuration reference (docs/configuration.md) from the one schema,
 * src/config/schema.ts: every key with its type, default and description. The schema is the source;
 * test/ops/config-reference.test.ts fails when the committed file is stale.
 *
 *   node --import tsx scripts/config-reference.ts           print to stdout
 *   node --import tsx scripts/config-reference.ts --write   rewrite docs/configuration.md
 *   node --import tsx scripts/config-reference.ts --check   exit 1 when docs/configuration.md is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import { ConfigSchema } from '../src/config/schema.js';

export const REFERENCE_FILE = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));

interface Row {
  path: string;
  type: string;
  default: string;
  description: string;
}

type Schema = TSchema & {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  patternProperties?: Record<string, Schema>;
  const?: unknown;
  minimum?: number;
  minItems?: number;
  minLength?: number;
  pattern?: string;
};

const code = (s: string) => `\`${s}\``;

function typeOf(s: Schema): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.type === 'array') return `list of ${s.items ? typeOf(s.items) : 'any'}`;
  if (s.type === 'object' && s.patternProperties) {
    const value = typeOf(Object.values(s.patternProperties)[0]!);
    return `map of ${value.includes('|') ? `(${value})` : value}`;
  }
  if (s.type === 'object') return 'object';
  if (s.type === 'integer') return s.minimum !== undefined ? `integer ≥ ${s.minimum}` : 'integer';
  return s.type ?? 'any';
}

function defaultOf(s: Schema, required: boolean): string {
  if (s.default !== undefined) {
    // Objects defaulted to {} take their fields' defaults: nothing to say at this level.
    if (s.type === 'object' && JSON.stringify(s.default) === '{}') return '';
    return code(JSON.stringify(s.default));
  }
  return required ? '**required**' : '';
}

function walk(s: Schema, path: string, required: boolean, rows: Row[]): void {
  // Top-level sections are headings, not rows.
  if (path.includes('.') || path.includes('[')) {
    rows.push({
      path,
      type: typeOf(s),
      default: defaultOf(s, required),
      // Table cells: escape the column separator, and angle brackets that would read as HTML.
      description: (s.description ?? '').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;'),
    });
  }
  const object = s.type === 'object' && s.properties ? s : s.type === 'array' && s.items?.type === 'object' && s.items.properties ? s.items : null;
  if (!object) return;
  const prefix = object === s ? path : `${path}[]`;
  for (const [key, child] of Object.entries(object.properties!)) {
    walk(child, prefix ? `${prefix}.${key}` : key, (object.required ?? []).includes(key), rows);
  }
}

export function renderConfigReference(): string {
  const rows: Row[] = [];
  walk(ConfigSchema as Schema, '', true, rows);
  const sections = new Map<string, Row[]>();
  for (const row of rows) {
    const top = row.path.split(/[.[]/)[0]!;
    if (!sections.has(top)) sections.set(top, []);
    sections.get(top)!.push(row);
  }
  const out = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts by `node --import tsx scripts/config-reference.ts --write`; do not edit by hand. -->',
    '',
    'Every key of the YAML file, with its type and default. `a.b[].c` is key `c` of each entry of the list `a.b`.',
    'A key marked **required** must be set when its parent is present; an empty default means optional and',
    'unset. `provider` and `gateway` are optional sections (omit `gateway` to run the provider alone, omit',
    '`provider` to put the gateway in front of an external issuer). `${VAR}` and `${VAR:-default}` may stand',
    'in for any value. An invalid file is refused with every problem listed by its YAML path, at start (exit',
    'code 2) and on reload (the running configuration stays).',
    '',
  ];
  for (const [section, sectionRows] of sections) {
    out.push(`## ${section}`, '', '| key | type | default | description |', '|---|---|---|---|');
    for (const r of sectionRows) out.push(`| ${code(r.path)} | ${r.type} | ${r.default} | ${r.description} |`);
    out.push('');
  }
  return out.join('\n');
}

function main(argv: string[]): number {
  const text = renderConfigReference();
  if (argv.includes('--write')) {
    writeFileSync(REFERENCE_FILE, text);
    process.stdout.write(`wrote ${REFERENCE_FILE}\n`);
    return 0;
  }
  if (argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(REFERENCE_FILE, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current === text) return 0;
    process.stderr.write('docs/configuration.md is stale: run `node --import tsx scripts/config-reference.ts --write`\n');
    return 1;
  }
  process.stdout.write(text);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exit(main(process.argv.slice(2)));
