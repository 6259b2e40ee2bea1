/**
 * Every WGSL entry point against its kernel descriptor (src/gpu/kernel.ts), without a GPU.
 *
 * The descriptors are collected from the modules themselves: every module under src/ that
 * imports src/gpu/kernel is imported and its exports scanned with `isKernelDescriptor` (no
 * hand-written registry to forget a kernel in). Every shader in shaders/ is parsed (comments
 * stripped; bindings, structs, overrides, entry points and functions), and for each descriptor:
 * - the entry point exists and is `@compute`;
 * - the storage bindings of group 0 are exactly the descriptor's `inputs` (var<storage, read>)
 *   from binding 0, then its `outputs` (var<storage, read_write>), same names in binding order;
 * - the uniform binding comes right after them (or there is none when `uniforms` is null), and
 *   its struct's fields match the descriptor's (names, types, order), scalars only;
 * - nothing else is bound; the constants it may set are `override`s of the shader; a literal
 *   1-D `@workgroup_size(n)` equals `workgroupSize` (null otherwise).
 * And globally: every `@compute` entry point of every shader has exactly one descriptor, and a
 * helper function copied between the files of one kernel family (files named `<family>` or
 * `<family>_*`, WGSL having no includes) has one text.
 * The parser and the checks are tested on wrong descriptors too, so this test cannot pass by
 * finding nothing.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isKernelDescriptor, kernel, kernelName, moduleName, packUniforms, type KernelDescriptor } from '../src/gpu/kernel';
import { shaderNames, shaderSource } from '../src/gpu/shaders';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------------------------
// A small WGSL reader: enough of the grammar for module-scope declarations.

interface Binding {
  group: number;
  binding: number;
  space: 'storage' | 'uniform' | 'other';
  access: 'read' | 'read_write' | null;
  name: string;
  type: string;
}

interface Entry {
  name: string;
  stage: 'compute' | 'other';
  /** Arguments of @workgroup_size, as written. */
  workgroupSize: string[];
}

interface Shader {
  name: string;
  bindings: Binding[];
  structs: Map<string, { name: string; type: string }[]>;
  overrides: Set<string>;
  entries: Map<string, Entry>;
  /** Non-entry functions: name -> text from `fn` to the closing brace (whitespace-normalized). */
  helpers: Map<string, string>;
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');
}

/** Text of the brace-delimited block starting at the first `{` at or after `from`. */
function block(src: string, from: number): string {
  const open = src.indexOf('{', from);
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === '{') depth++;
    else if (src[i] === '}' && --depth === 0) return src.slice(from, i + 1);
  }
  throw new Error('unbalanced braces');
}

export /** Split a struct body at its top-level commas (not those inside `array<vec4u, 8>`). */
function splitTopLevel(body: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of body) {
    if (ch === '<') depth++;
    else if (ch === '>') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function parseWgsl(name: string, source: string): Shader {
  const src = stripComments(source);
  const bindings: Binding[] = [];
  // Resource variables: @group(g) @binding(b) (either order) var<space[, access]> name: type;
  const varRe = /((?:@(?:group|binding)\s*\(\s*\d+\s*\)\s*){2})var\s*(?:<\s*(\w+)\s*(?:,\s*(\w+)\s*)?>)?\s*(\w+)\s*:\s*([^;]+);/g;
  for (const m of src.matchAll(varRe)) {
    const group = Number(/@group\s*\(\s*(\d+)/.exec(m[1])![1]);
    const binding = Number(/@binding\s*\(\s*(\d+)/.exec(m[1])![1]);
    const space = m[2] === 'storage' || m[2] === 'uniform' ? m[2] : 'other';
    // WGSL's default access mode of storage buffers is read.
    const access = space === 'storage' ? ((m[3] ?? 'read') as 'read' | 'read_write') : null;
    bindings.push({ group, binding, space, access, name: m[4], type: m[5].trim() });
  }
  // Every @group/@binding attribute must have been read as part of a variable.
  const attrs = [...src.matchAll(/@binding\s*\(/g)].length;
  if (attrs !== bindings.length) throw new Error(`${name}: read ${bindings.length} of ${attrs} bound variables`);

  const structs = new Map<string, { name: string; type: string }[]>();
  for (const m of src.matchAll(/struct\s+(\w+)\s*\{([^}]*)\}/g)) {
    const fields = splitTopLevel(m[2])
      .map((f) => f.trim())
      .filter(Boolean)
      .map((f) => {
        const fm = /^(\w+)\s*:\s*(.+)$/.exec(f);
        if (!fm) throw new Error(`${name}: cannot read field "${f}" of struct ${m[1]}`);
        return { name: fm[1], type: fm[2].trim().replace(/\s+/g, ' ').replace(/\s*,\s*/g, ', ') };
      });
    structs.set(m[1], fields);
  }

  const overrides = new Set([...src.matchAll(/\boverride\s+(\w+)/g)].map((m) => m[1]));

  const entries = new Map<string, Entry>();
  const helpers = new Map<string, string>();
  for (const m of src.matchAll(/((?:@\w+\s*(?:\([^)]*\))?\s*)*)\bfn\s+(\w+)\s*\(/g)) {
    const attrsText = m[1];
    const fnName = m[2];
    const stage = /@(compute|vertex|fragment)\b/.exec(attrsText)?.[1];
    if (stage) {
      const wg = /@workgroup_size\s*\(([^)]*)\)/.exec(attrsText);
      entries.set(fnName, { name: fnName, stage: stage === 'compute' ? 'compute' : 'other', workgroupSize: wg ? wg[1].split(',').map((s) => s.trim()).filter(Boolean) : [] });
    } else {
      const start = m.index! + m[1].length;
      helpers.set(fnName, block(src, start).replace(/\s+/g, ' '));
    }
  }
  return { name, bindings, structs, overrides, entries, helpers };
}

/** Everything wrong with a descriptor against its parsed shader (empty: it matches). */
export function descriptorProblems(d: KernelDescriptor, shader: Shader | undefined): string[] {
  const where = kernelName(d);
  if (!shader) return [`${where}: no shader "${d.shader}" in shaders/`];
  const problems: string[] = [];
  const entry = shader.entries.get(d.entry);
  if (!entry) problems.push(`${where}: no entry point ${d.entry} (have ${[...shader.entries.keys()].join(', ')})`);
  else if (entry.stage !== 'compute') problems.push(`${where}: ${d.entry} is not a @compute entry point`);

  const sorted = [...shader.bindings].sort((a, b) => a.group - b.group || a.binding - b.binding);
  for (const b of sorted) if (b.group !== 0) problems.push(`${where}: ${b.name} is in group ${b.group}; the dispatcher binds group 0 only`);
  const storage = sorted.filter((b) => b.space === 'storage');
  const want = [...d.inputs.map((n) => ({ name: n, access: 'read' })), ...d.outputs.map((n) => ({ name: n, access: 'read_write' }))];
  const got = storage.map((b) => ({ name: b.name, access: b.access, binding: b.binding }));
  const gotText = got.map((b) => `${b.binding}:${b.name}(${b.access})`).join(' ');
  const wantText = want.map((b, i) => `${i}:${b.name}(${b.access})`).join(' ');
  if (gotText !== wantText) problems.push(`${where}: storage bindings are [${gotText}], the descriptor says [${wantText}]`);

  const uniforms = sorted.filter((b) => b.space === 'uniform');
  const others = sorted.filter((b) => b.space === 'other');
  if (others.length) problems.push(`${where}: unexpected bindings ${others.map((b) => b.name).join(', ')}`);
  if (d.uniforms === null) {
    if (uniforms.length) problems.push(`${where}: the shader binds a uniform block (${uniforms[0].name}), the descriptor has none`);
  } else if (uniforms.length !== 1) {
    problems.push(`${where}: the descriptor has a uniform block, the shader binds ${uniforms.length}`);
  } else {
    const u = uniforms[0];
    if (u.binding !== want.length) problems.push(`${where}: the uniform block is at binding ${u.binding}, right after the storage bindings is ${want.length}`);
    const fields = shader.structs.get(u.type);
    if (!fields) problems.push(`${where}: the uniform block's type ${u.type} is not a struct of the shader`);
    else {
      for (const f of fields) {
        if (!['u32', 'i32', 'f32'].includes(f.type) && !/^array<vec4[uif], \d+>$/.test(f.type)) {
          problems.push(`${where}: uniform field ${f.name}: ${f.type} is not a scalar (u32, i32, f32) or an array of 4-vectors`);
        }
      }
      const shaderFields = fields.map((f) => `${f.name}: ${f.type}`).join(', ');
      const descFields = Object.entries(d.uniforms).map(([n, t]) => `${n}: ${t}`).join(', ');
      if (shaderFields !== descFields) problems.push(`${where}: struct ${u.type} is {${shaderFields}}, the descriptor says {${descFields}}`);
    }
  }

  for (const c of d.constants) if (!shader.overrides.has(c)) problems.push(`${where}: constant ${c} is not an override of ${d.shader}.wgsl`);
  if (entry) {
    const literal = entry.workgroupSize.length === 1 && /^\d+u?$/.test(entry.workgroupSize[0]) ? parseInt(entry.workgroupSize[0], 10) : null;
    if (literal !== d.workgroupSize) {
      problems.push(`${where}: @workgroup_size(${entry.workgroupSize.join(', ')}) ${literal === null ? 'is not a 1-D literal' : `is ${literal}`}, the descriptor's workgroupSize is ${d.workgroupSize}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.tsx?$/.test(f)) out.push(p);
  }
  return out.sort();
}

/** Modules that can declare descriptors: those importing src/gpu/kernel (and kernel.ts itself). */
const candidates = sourceFiles(join(ROOT, 'src')).filter((p) => /from\s+'[./]*(?:gpu\/)?kernel'/.test(readFileSync(p, 'utf8')) && !p.endsWith(join('gpu', 'kernel.ts')));

async function collectDescriptors(): Promise<{ module: string; exportName: string; d: KernelDescriptor }[]> {
  const found: { module: string; exportName: string; d: KernelDescriptor }[] = [];
  const seen = new Set<KernelDescriptor>();
  for (const file of candidates) {
    const mod = (await import(/* @vite-ignore */ file)) as Record<string, unknown>;
    for (const [exportName, v] of Object.entries(mod)) {
      if (isKernelDescriptor(v) && !seen.has(v)) {
        seen.add(v);
        found.push({ module: relative(ROOT, file), exportName, d: v });
      }
    }
  }
  return found;
}

const shaders = new Map(shaderNames().map((n) => [n, parseWgsl(n, shaderSource(n))]));

/** The parsed module a descriptor compiles: its file, after its preludes if any. */
function shaderOf(d: KernelDescriptor): Shader | undefined {
  if (d.preludes.length === 0) return shaders.get(d.shader);
  if (![...d.preludes, d.shader].every((n) => shaders.has(n))) return undefined;
  for (const name of d.preludes) {
    const prelude = shaders.get(name)!;
    if (prelude.bindings.length || prelude.entries.size) throw new Error(`prelude ${name} has bindings or entry points`);
  }
  return parseWgsl(moduleName(d), shaderSource(moduleName(d)));
}

/** Every file some descriptor compiles as a prelude. */
async function preludeFiles(): Promise<Set<string>> {
  return new Set((await collectDescriptors()).flatMap(({ d }) => d.preludes));
}

describe('the WGSL reader', () => {
  it('reads bindings, structs, overrides, entry points and helpers (comments ignored)', () => {
    const s = parseWgsl(
      't',
      `// @group(0) @binding(9) var<storage, read> commented: array<f32>;
       override WG: u32 = 64u;
       struct Params { n: u32, /* odd */ scale: f32 }
       @group(0) @binding(0) var<storage> a: array<f32>;
       @binding(1) @group(0) var<storage, read_write> b: array<atomic<u32>>;
       @group(0) @binding(2) var<uniform> p: Params;
       fn helper(x: u32) -> u32 { if (x > 0u) { return x; } return 1u; }
       @compute @workgroup_size(256) fn one() {}
       @compute
       @workgroup_size(WG, 1)
       fn two() {}`,
    );
    expect(s.bindings.map((b) => [b.binding, b.name, b.space, b.access])).toEqual([
      [0, 'a', 'storage', 'read'],
      [1, 'b', 'storage', 'read_write'],
      [2, 'p', 'uniform', null],
    ]);
    expect(s.structs.get('Params')).toEqual([
      { name: 'n', type: 'u32' },
      { name: 'scale', type: 'f32' },
    ]);
    expect([...s.overrides]).toEqual(['WG']);
    expect([...s.entries.values()].map((e) => [e.name, e.workgroupSize])).toEqual([
      ['one', ['256']],
      ['two', ['WG', '1']],
    ]);
    expect(s.helpers.get('helper')).toBe('fn helper(x: u32) -> u32 { if (x > 0u) { return x; } return 1u; }');
  });

  it('every shader file is read: it has bindings and @compute entry points, or is a prelude', async () => {
    expect(shaders.size).toBeGreaterThanOrEqual(17);
    // A prelude (code compiled in front of another file) has neither; it must be some descriptor's prelude.
    const preludes = await preludeFiles();
    expect([...preludes].sort()).toEqual(['activations', 'lane_exchange', 'lane_exchange_subgroup']);
    for (const s of shaders.values()) {
      if (preludes.has(s.name)) {
        expect(s.bindings.length + s.entries.size, `${s.name} is a prelude`).toBe(0);
        continue;
      }
      expect(s.bindings.length, s.name).toBeGreaterThan(0);
      expect([...s.entries.values()].filter((e) => e.stage === 'compute').length, s.name).toBeGreaterThan(0);
    }
  });

  it('finds each kind of mismatch', () => {
    const s = parseWgsl(
      't',
      `struct P { n: u32, a: f32 }
       @group(0) @binding(0) var<storage, read> x: array<f32>;
       @group(0) @binding(1) var<storage, read_write> out: array<f32>;
       @group(0) @binding(2) var<uniform> u: P;
       override K: u32 = 1u;
       @compute @workgroup_size(64) fn e() {}`,
    );
    const base = { shader: 't', entry: 'e', inputs: ['x'], outputs: ['out'], uniforms: { n: 'u32', a: 'f32' }, constants: ['K'], workgroupSize: 64 } as const;
    expect(descriptorProblems(kernel(base), s)).toEqual([]);
    const wrong: [string, KernelDescriptor][] = [
      ['entry', kernel({ ...base, entry: 'f' })],
      ['input name', kernel({ ...base, inputs: ['y'] })],
      ['input as output', kernel({ ...base, inputs: [], outputs: ['x', 'out'] })],
      ['extra input', kernel({ ...base, inputs: ['x', 'z'] })],
      ['swapped fields', kernel({ ...base, uniforms: { a: 'f32', n: 'u32' } })],
      ['field type', kernel({ ...base, uniforms: { n: 'i32', a: 'f32' } })],
      ['missing field', kernel({ ...base, uniforms: { n: 'u32' } })],
      ['no uniforms', kernel({ ...base, uniforms: null })],
      ['constant', kernel({ ...base, constants: ['L'] })],
      ['workgroup size', kernel({ ...base, workgroupSize: 256 })],
      ['workgroup size null', kernel({ ...base, workgroupSize: null })],
      ['shader', kernel({ ...base, shader: 'nope' })],
    ];
    for (const [what, d] of wrong) expect(descriptorProblems(d, d.shader === 't' ? s : undefined).length, what).toBeGreaterThan(0);
    // A uniform block not right after the storage bindings, and a non-scalar field.
    const gap = parseWgsl('t', `struct P { v: vec2u } @group(0) @binding(0) var<storage, read> x: array<f32>; @group(0) @binding(2) var<uniform> u: P; @compute @workgroup_size(1) fn e() {}`);
    const problems = descriptorProblems(kernel({ shader: 't', entry: 'e', inputs: ['x'], outputs: [], uniforms: { v: 'u32' }, workgroupSize: 1 }), gap);
    expect(problems.some((p) => /binding 2/.test(p))).toBe(true);
    expect(problems.some((p) => /not a scalar/.test(p))).toBe(true);
  });
});

describe('kernel descriptors', () => {
  it('are found in the modules that wrap the shaders', async () => {
    const found = await collectDescriptors();
    // One per entry point (checked below); a floor so that a broken scan cannot pass.
    expect(found.length).toBeGreaterThanOrEqual(40);
    expect(new Set(found.map((f) => f.module)).size).toBeGreaterThanOrEqual(10);
  });

  it('match their shaders exactly: entry, storage bindings, uniform struct, constants, workgroup size', async () => {
    const problems = (await collectDescriptors()).flatMap(({ module, exportName, d }) => descriptorProblems(d, shaderOf(d)).map((p) => `${module} ${exportName}: ${p}`));
    expect(problems).toEqual([]);
  });

  it('cover every @compute entry point of every shader exactly once', async () => {
    const found = await collectDescriptors();
    // Keyed by the compiled module (a prelude makes another module of the same entry point).
    const byEntry = new Map<string, string[]>();
    for (const { module, exportName, d } of found) {
      const key = kernelName(d);
      byEntry.set(key, [...(byEntry.get(key) ?? []), `${module} ${exportName}`]);
    }
    const covered = new Set(found.map(({ d }) => `${d.shader}.${d.entry}`));
    const missing: string[] = [];
    for (const s of shaders.values()) {
      for (const e of s.entries.values()) if (e.stage === 'compute' && !covered.has(`${s.name}.${e.name}`)) missing.push(`${s.name}.${e.name}`);
    }
    expect(missing, 'entry points without a descriptor').toEqual([]);
    const duplicated = [...byEntry].filter(([, where]) => where.length > 1);
    expect(duplicated, 'entry points with several descriptors').toEqual([]);
  });
});

describe('shader families', () => {
  it('a helper copied between the files of one family has one text', async () => {
    const family = (name: string) => name.split('_')[0];
    // Preludes are shared code (activations) or alternatives by design (lane_exchange vs
    // lane_exchange_subgroup define the same functions two ways); they are not copies.
    const preludes = await preludeFiles();
    const texts = new Map<string, Map<string, string[]>>();
    for (const s of shaders.values()) {
      if (preludes.has(s.name)) continue;
      for (const [fn, text] of s.helpers) {
        const key = `${family(s.name)}/${fn}`;
        const byText = texts.get(key) ?? new Map<string, string[]>();
        byText.set(text, [...(byText.get(text) ?? []), s.name]);
        texts.set(key, byText);
      }
    }
    const differing = [...texts].filter(([, byText]) => byText.size > 1).map(([key, byText]) => `${key}: ${[...byText.values()].map((f) => f.join('+')).join(' vs ')}`);
    expect(differing).toEqual([]);
    // The copies this guards exist (the eigensolver's files share pair_of and tile_row).
    expect(texts.get('eigh/pair_of')?.values().next().value).toEqual(['eigh', 'eigh_blocked']);
    expect(texts.get('fused/sc_s')?.values().next().value).toEqual(['fused_mlp_step', 'fused_mlp_update']);
  });
});

describe('uniform packing', () => {
  const k = kernel({ shader: 't', entry: 'e', inputs: [], outputs: ['out'], uniforms: { n: 'u32', off: 'i32', a: 'f32', b: 'f32', m: 'u32' }, workgroupSize: 1 });

  it('lays the fields out in declaration order, by name, padded to 16 bytes', () => {
    const buf = packUniforms(k, { b: 2.5, m: 7, a: -0.25, off: -3, n: 0xffffffff });
    expect(buf.byteLength).toBe(32);
    const v = new DataView(buf);
    expect(v.getUint32(0, true)).toBe(0xffffffff);
    expect(v.getInt32(4, true)).toBe(-3);
    expect(v.getFloat32(8, true)).toBe(-0.25);
    expect(v.getFloat32(12, true)).toBe(2.5);
    expect(v.getUint32(16, true)).toBe(7);
    const empty = kernel({ shader: 't', entry: 'e', inputs: [], outputs: [], uniforms: { x: 'f32' } });
    expect(packUniforms(empty, { x: 1 }).byteLength).toBe(16);
  });

  it('refuses missing, unknown and out-of-range values, naming the field', () => {
    const ok = { n: 1, off: 0, a: 0, b: 0, m: 0 };
    expect(() => packUniforms(k, { ...ok, m: undefined } as unknown as typeof ok)).toThrow(/t\.e: no value for m/);
    expect(() => packUniforms(k, { ...ok, extra: 1 } as typeof ok)).toThrow(/unknown field extra/);
    expect(() => packUniforms(k, { ...ok, n: -1 })).toThrow(/n = -1 is not a u32/);
    expect(() => packUniforms(k, { ...ok, n: 2 ** 32 })).toThrow(/is not a u32/);
    expect(() => packUniforms(k, { ...ok, m: 1.5 })).toThrow(/m = 1.5 is not a u32/);
    expect(() => packUniforms(k, { ...ok, off: 2 ** 31 })).toThrow(/is not an i32/);
    // f32 fields take any number (NaN and infinities are values a kernel may be given).
    expect(new DataView(packUniforms(k, { ...ok, a: NaN })).getFloat32(8, true)).toBeNaN();
  });

  it('a block larger than one uniform slot is refused when the kernel is declared', () => {
    const uniforms = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`f${i}`, 'u32' as const]));
    expect(() => kernel({ shader: 't', entry: 'e', inputs: [], outputs: [], uniforms })).toThrow(/uniform block \(260 bytes\) exceeds 256 bytes/);
  });
});
