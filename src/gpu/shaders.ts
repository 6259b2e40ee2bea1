/**
 * WGSL sources, loaded by one mechanism everywhere: Vite's `import.meta.glob` with `?raw`.
 * The lab (Vite), the tests (Vitest) and the Node runner (Vite's module runner, see
 * scripts/lab.mjs) all resolve it the same way, so a kernel is never copied into a string.
 */
const sources = import.meta.glob('../../shaders/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<
  string,
  string
>;

const byName = new Map<string, string>();
for (const [path, code] of Object.entries(sources)) {
  const name = path.slice(path.lastIndexOf('/') + 1).replace(/\.wgsl$/, '');
  byName.set(name, code);
}

/**
 * The WGSL source of `shaders/<name>.wgsl`. A name `a+b` is the concatenation of a.wgsl and b.wgsl
 * (a kernel with a swappable part, e.g. lane_exchange_subgroup+fused_mlp_step: the first file
 * may carry `enable` directives).
 */
export function shaderSource(name: string): string {
  if (name.includes('+')) return name.split('+').map(shaderSource).join('\n');
  const code = byName.get(name);
  if (code === undefined) {
    throw new Error(`no shader "${name}" in shaders/ (have: ${[...byName.keys()].sort().join(', ')})`);
  }
  return code;
}

export function shaderNames(): string[] {
  return [...byName.keys()].sort();
}
