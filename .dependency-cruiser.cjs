/**
 * The layering of src/ (README "Architecture"), enforced by `npm test` (`npm run layers`).
 *
 * Folders form a strict order: a module may import from its own folder and from folders below
 * it, never from one above (type-only imports included), so there is no cycle between folders.
 *
 *   util < experiment < math < model < data < reference < gpu < ops < nn < geometry < curvature
 *        < dynamics < api < export < { cli, lab, experiments }
 *
 * Two rules go beyond the order: the GPU engine (gpu .. curvature) never leans on the float64
 * reference (the reference is its test oracle and the no-WebGPU fallback, not a dependency), and
 * the lab reaches the engine only through api/ (React renders state; it never sees a GPU buffer).
 */
const LAYERS = ['util', 'experiment', 'math', 'model', 'data', 'reference', 'gpu', 'ops', 'nn', 'geometry', 'curvature', 'dynamics', 'api', 'export'];
const TOP = ['cli', 'lab', 'experiments'];

const dir = (names) => `^src/(${names.join('|')})/`;

const orderRules = LAYERS.map((layer, i) => ({
  name: `layer-${layer}`,
  comment: `src/${layer} may import only from ${LAYERS.slice(0, i + 1).join(', ')}`,
  severity: 'error',
  from: { path: dir([layer]) },
  to: { path: dir([...LAYERS.slice(i + 1), ...TOP]) },
}));

module.exports = {
  forbidden: [
    ...orderRules,
    {
      name: 'no-circular',
      comment: 'no import cycle between modules (type-only imports included)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'gpu-engine-not-on-reference',
      comment: 'the GPU engine does not depend on the float64 reference (its oracle)',
      severity: 'error',
      from: { path: dir(['gpu', 'ops', 'nn', 'geometry', 'curvature']) },
      to: { path: dir(['reference']) },
    },
    {
      name: 'lab-through-api',
      comment: 'the lab reaches the engine only through src/api',
      severity: 'error',
      from: { path: '^src/lab/' },
      to: { path: dir(['reference', 'gpu', 'ops', 'nn', 'geometry', 'curvature', 'dynamics', 'cli', 'experiments']) },
    },
    {
      name: 'top-level-apps-independent',
      comment: 'the lab and the experiments do not import the CLI or each other',
      severity: 'error',
      from: { path: dir(['lab', 'experiments']) },
      to: { path: dir(['cli', 'lab', 'experiments']), pathNot: '^src/$1/' },
    },
    {
      name: 'no-unknown-folder',
      comment: 'every module of src/ lives in a folder with a place in the layering',
      severity: 'error',
      from: { path: '^src/', pathNot: dir([...LAYERS, ...TOP]) },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.(css|wgsl)$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.mjs'] },
  },
};
