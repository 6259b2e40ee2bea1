/**
 * Export an experiment as a standalone PyTorch program (torch >= 1.13 and numpy only) that
 * computes the headless runner's result keys with plain autograd and writes them as a result
 * JSON with the runner's keys, nesting and shapes.
 *
 * The program itself is `pytorch-program.py` (the same for every spec, readable and tested as
 * Python); this module fills in the experiment: the settings (layers, loss, training, options,
 * which keys to compute) as small Python literals and, at the end of the file, theta0 and the
 * data as literal arrays (generated toys and image subsets are embedded as the arrays the lab
 * resolved, so the script reproduces them exactly without the lab's generators or image files).
 *
 * Safety: nothing from the spec becomes code. Numbers are written from validated finite values,
 * enumerations (activations, layer types, loss) from validated sets, and every string (the spec
 * name, the dataset name) through `pyStr`, a double-quoted Python literal whose only unescaped
 * characters are printable ASCII other than `"` and `\`.
 *
 * Pure TypeScript (no Node or DOM APIs): the CLI and the lab's worker both call `pytorchScript`.
 */
import program from './pytorch-program.py?raw';
import { version as LAB_VERSION } from '../../package.json';
import { planOf, type ModelPlan } from '../model/layout';
import { fisherSkipped, fisherTooLarge, requestedKeys, RESULT_KEYS } from '../experiment/keys';
import { infiniteProblem } from '../model/infinite-plan';
import type { ResolvedSpec } from '../experiment/types';
import { UnsupportedError } from '../experiment/errors';

/** A valid spec the exporter cannot turn into a script (one-line reason; code `unsupported`). */
export class ExportError extends UnsupportedError {}

/** The result keys the exported program computes (the runner's, in its order; `infinite` is not exported yet). */
export const EXPORTED_KEYS = RESULT_KEYS.filter((k) => k !== 'infinite');

/** Optimizers the exported training loop implements (the runner's trainer also has kfac / ekfac). */
const EXPORTED_OPTIMIZERS = ['gd', 'sgd'];

export interface ExportPlan {
  /** Keys the script computes by default, in the runner's order. */
  keys: string[];
  /** One line per key left out or adjusted (as the runner notes them). */
  notes: string[];
}

/**
 * Which keys the script computes, following the runner (`requestedKeys`, src/experiment/keys.ts):
 * `spec.compute` when given, else every key that applies (test keys need test data, `train` a
 * train section); `fisher` above `options.fisher_max_params` is dropped with a note, or refused
 * with the runner's message when `compute` asks for it. Throws an ExportError for what the
 * exporter cannot do.
 */
export function exportPlan(spec: ResolvedSpec): ExportPlan {
  const P = planOf(spec).P;
  const notes: string[] = [];
  // The runner's keys (src/experiment/keys.ts); a key the runner knows and the script does not
  // compute is skipped with a note, or refused when compute asks for it.
  const { keys, explicit } = requestedKeys(spec, P, infiniteProblem(spec) === null);
  const wanted = new Set<string>();
  for (const key of keys) {
    if (!(EXPORTED_KEYS as readonly string[]).includes(key)) {
      const reason = `the PyTorch export does not compute "${key}" yet (it computes ${EXPORTED_KEYS.join(', ')})`;
      if (explicit) throw new ExportError(`compute: ${reason}`);
      notes.push(`${key} skipped: ${reason}`);
      continue;
    }
    wanted.add(key);
  }
  if (P > spec.options.fisher_max_params) {
    if (explicit && wanted.has('fisher')) {
      throw new ExportError(fisherTooLarge(P, spec.options.fisher_max_params));
    }
    if (!explicit) notes.push(fisherSkipped(P, spec.options.fisher_max_params));
  }
  if (wanted.has('train') && !EXPORTED_OPTIMIZERS.includes(spec.train!.optimizer)) {
    throw new ExportError(
      `train.optimizer: the PyTorch export trains with "gd" or "sgd" (with momentum and weight decay), not "${spec.train!.optimizer}"; ` +
        'use the lab or the headless runner for natural-gradient training, or leave "train" out of compute',
    );
  }
  return { keys: EXPORTED_KEYS.filter((k) => wanted.has(k)), notes };
}

// ---- Python literals ---------------------------------------------------------------------------

const hex = (v: number, width: number) => v.toString(16).padStart(width, '0');

/**
 * A Python string literal for any JS string: double-quoted, with `\` and `"` escaped and every
 * character outside printable ASCII written as `\xNN`, `\uNNNN` or `\UNNNNNNNN`, so it never
 * contains a newline, a quote that ends it, or anything but plain ASCII.
 */
export function pyStr(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp < 0x100) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x10000) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return out + '"';
}

/** A Python float literal that parses to exactly `x` (shortest round-trip digits). */
export function pyFloat(x: number): string {
  if (!Number.isFinite(x)) throw new ExportError(`cannot export the non-finite number ${x}`);
  if (Object.is(x, -0)) return '-0.0';
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

function pyInt(x: number): string {
  if (!Number.isSafeInteger(x)) throw new ExportError(`cannot export ${x} as an integer`);
  return String(x);
}

/** Items joined by ", ", wrapped at `width` characters, every line indented. */
function wrap(items: string[], indent: string, width = 100): string[] {
  const lines: string[] = [];
  let line = '';
  for (const item of items) {
    if (line && indent.length + line.length + item.length + 2 > width) {
      lines.push(indent + line + ',');
      line = item;
    } else line = line ? `${line}, ${item}` : item;
  }
  if (line) lines.push(indent + line + ',');
  return lines;
}

/** `NAME = [` ... `]`, one wrapped list of `row` items per line block (rows of a matrix), with a comment. */
function pyMatrix(name: string, comment: string, values: ArrayLike<number>, rowLength: number, format: (x: number) => string): string {
  const rows = rowLength > 0 ? values.length / rowLength : 0;
  const lines = [`${name} = [  # ${comment}`];
  for (let r = 0; r < rows; r++) {
    const items = Array.from({ length: rowLength }, (_, j) => format(values[r * rowLength + j]));
    const body = wrap(items, '     ');
    body[0] = '    [' + body[0].slice(5);
    body[body.length - 1] = body[body.length - 1].slice(0, -1) + '],';
    lines.push(...body);
  }
  lines.push(']');
  return lines.join('\n');
}

function pyList(name: string, comment: string, values: ArrayLike<number>, format: (x: number) => string): string {
  const items = Array.from(values, (v) => format(v));
  if (items.length === 0) return `${name} = []  # ${comment}`;
  return [`${name} = [  # ${comment}`, ...wrap(items, '    '), ']'].join('\n');
}

// ---- the script --------------------------------------------------------------------------------

function layerLiteral(spec: ResolvedSpec, i: number): string {
  const l = spec.model.layers[i];
  switch (l.type) {
    case 'dense':
      return `{"type": "dense", "units": ${pyInt(l.units)}, "activation": ${pyStr(l.activation)}}`;
    case 'conv2d':
      return (
        `{"type": "conv2d", "filters": ${pyInt(l.filters)}, "kernel": ${pyInt(l.kernel)}, "stride": ${pyInt(l.stride ?? 1)}, ` +
        `"padding": ${pyInt(l.padding ?? 0)}, "activation": ${pyStr(l.activation)}}`
      );
    case 'avgpool2d':
      return `{"type": "avgpool2d", "size": ${pyInt(l.size)}}`;
    case 'flatten':
      return `{"type": "flatten"}`;
  }
}

/** One line describing the model, from validated values only (layer kinds, sizes, activations). */
function modelSummary(plan: ModelPlan): string {
  const parts = plan.layers.map((l) => {
    if (l.kind === 'dense') return `dense ${l.out} ${l.activation}`;
    if (l.kind === 'conv2d') return `conv ${l.out}@${l.kernel}x${l.kernel}${l.stride !== 1 ? ` s${l.stride}` : ''}${l.padding ? ` p${l.padding}` : ''} ${l.activation}`;
    if (l.kind === 'avgpool2d') return `avgpool ${l.size}`;
    return 'flatten';
  });
  return `[${plan.input.join('x')}] -> ${parts.join(' -> ')}`;
}

function trainLiteral(spec: ResolvedSpec): string {
  const t = spec.train;
  if (!t) return 'TRAIN = None  # the spec has no train section';
  const checkpoints = wrap(t.checkpoints.map(pyInt), '        ').join('\n');
  return [
    'TRAIN = {  # section 8; batch_size = n is full-batch gradient descent',
    `    "optimizer": ${pyStr(t.optimizer)},`,
    `    "lr": ${pyFloat(t.lr)},`,
    `    "steps": ${pyInt(t.steps)},`,
    `    "alpha": ${pyFloat(t.alpha)},`,
    `    "batch_size": ${pyInt(t.batchSize)},`,
    `    "momentum": ${pyFloat(t.momentum)},`,
    `    "weight_decay": ${pyFloat(t.weightDecay)},`,
    `    "seed": ${pyInt(t.seed)},  # minibatch order (the lab's generator)`,
    `    "checkpoints": [\n${checkpoints}\n    ],`,
    '}',
  ].join('\n');
}

function dataOrigin(spec: ResolvedSpec): string {
  const dataset = spec.data.meta.dataset;
  return dataset === null ? 'explicit arrays from the spec' : `generated by the lab from dataset ${pyStr(dataset)} (seeded), embedded as arrays`;
}

function fill(template: string, marker: string, text: string): string {
  const parts = template.split(marker);
  if (parts.length !== 2) throw new Error(`pytorch-program.py: expected the marker ${marker} exactly once`);
  return parts[0] + text + parts[1];
}

export interface PytorchExport {
  script: string;
  keys: string[];
  notes: string[];
  /** A file name for the script, from the spec name (letters, digits, - and _ only). */
  filename: string;
}

/** The script for a validated spec (see the module comment); throws an ExportError when it cannot. */
export function exportPytorch(spec: ResolvedSpec): PytorchExport {
  const { keys, notes } = exportPlan(spec);
  const plan = planOf(spec);
  const { n, nTest, c } = spec.data;
  const inSize = plan.inputSize;
  const ce = spec.loss === 'cross_entropy';

  const header = [
    '# Tangent Lab experiment exported as a PyTorch program.',
    `#   spec:        ${pyStr(spec.name)}`,
    `#   lab version: tangent-lab ${LAB_VERSION}`,
    `#   model:       ${modelSummary(plan)} (P = ${plan.P}, ${spec.model.parameterization} parameterization), loss ${spec.loss}`,
    `#   data:        n = ${n}, n_test = ${nTest}, ${dataOrigin(spec)}`,
    '#   run:         python3 this_script.py --out result.json [--device cuda] [--dtype float32]',
  ].join('\n');

  const experiment = [
    `SPEC_NAME = ${pyStr(spec.name)}`,
    `LAB_VERSION = ${pyStr(LAB_VERSION)}`,
    '',
    '# ---- the experiment (from the spec: plain data, the arrays are at the end of the file) ---------',
    `LOSS = ${pyStr(spec.loss)}`,
    `INPUT_SHAPE = [${plan.input.map(pyInt).join(', ')}]  # one example: [d], or [C, H, W] (batches are NCHW)`,
    'LAYERS = [',
    ...spec.model.layers.map((_, i) => `    ${layerLiteral(spec, i)},`),
    ']',
    `PARAMETERIZATION = ${pyStr(spec.model.parameterization)}  # "ntk": s = (SIGMA_W / sqrt(fan_in)) W a + SIGMA_B b`,
    `SIGMA_W = ${pyFloat(spec.model.sigmaW)}`,
    `SIGMA_B = ${pyFloat(spec.model.sigmaB)}`,
    trainLiteral(spec),
    `OPTIONS = {"fisher_max_params": ${pyInt(spec.options.fisher_max_params)}, "block_max_params": ${pyInt(spec.options.block_max_params)}}`,
    '# The result keys computed by default: the runner\'s (the spec\'s compute list, or every key that applies).',
    ...notes.map((note) => `# ${note}`),
    'KEYS = [',
    ...wrap(keys.map(pyStr), '    '),
    ']',
  ].join('\n');

  const layerRows: string[] = [];
  for (const l of plan.paramLayers) {
    const m = l.fanIn + 1;
    layerRows.push(`    # layer ${l.layerIndex} (${l.kind}, ${l.out} x ${m}): theta[${l.offset}:${l.offset + l.size}], rows [W[o] | b[o]]`);
    for (let o = 0; o < l.out; o++) {
      const row = Array.from(spec.theta.subarray(l.offset + o * m, l.offset + (o + 1) * m), pyFloat);
      layerRows.push(...wrap(row, '    '));
    }
  }
  const yComment = (rows: number) => (ce ? `${rows} integer labels in 0..${c - 1}` : `${rows} x ${c} targets`);
  const arrays = [
    '# ---- the arrays: theta0 (section 1 layout) and the data ------------------------------------------',
    `THETA0 = [  # P = ${plan.P}`,
    ...layerRows,
    ']',
    pyMatrix('X_TRAIN', `${n} examples x ${inSize} inputs (flattened C*H*W)`, spec.data.x, inSize, pyFloat),
    ce ? pyList('Y_TRAIN', yComment(n), spec.data.labels!, pyInt) : pyMatrix('Y_TRAIN', yComment(n), spec.data.y, c, pyFloat),
    nTest > 0 ? pyMatrix('X_TEST', `${nTest} examples x ${inSize} inputs`, spec.data.xTest, inSize, pyFloat) : 'X_TEST = []  # no test set',
    nTest === 0
      ? 'Y_TEST = []'
      : ce
        ? pyList('Y_TEST', yComment(nTest), spec.data.labelsTest!, pyInt)
        : pyMatrix('Y_TEST', yComment(nTest), spec.data.yTest, c, pyFloat),
  ].join('\n');

  let script = fill(program, '# @@HEADER@@', header);
  script = fill(script, '# @@EXPERIMENT@@', experiment);
  script = fill(script, '# @@ARRAYS@@', arrays);
  const base = spec.name.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 64) || 'experiment';
  return { script, keys, notes, filename: `${base}_pytorch.py` };
}

/** Just the script text (see `exportPytorch`). */
export function pytorchScript(spec: ResolvedSpec): string {
  return exportPytorch(spec).script;
}
