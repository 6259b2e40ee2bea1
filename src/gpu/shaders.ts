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

/** The WGSL source of `shaders/<name>.wgsl`. */
export function shaderSource(name: string): string {
  const code = byName.get(name);
  if (code === undefined) {
    throw new Error(`no shader "${name}" in shaders/ (have: ${[...byName.keys()].sort().join(', ')})`);
  }
  return code;
}

export function shaderNames(): string[] {
  return [...byName.keys()].sort();
}
