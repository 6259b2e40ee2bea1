/**
 * The lab's image subsets (8x8 digits, Fashion-MNIST 14x14) and their integration with the
 * experiment spec. The pixels live in `public/datasets/*.bin` (written by
 * scripts/make-datasets.py, layout documented there); this module decodes them and turns a
 * generated-data spec `{dataset: "digits" | "fashion", n, n_test, seed, label_noise, classes}`
 * into explicit `{x, y, x_test, y_test}` arrays before `validateSpec` sees the spec (the toy
 * generator in datasets.ts does not know image sets).
 *
 * Pure functions of their inputs (no DOM, no fetch): the worker fetches the bytes, the tests
 * read them from disk. The static facts below (shapes, pool sizes) let the UI validate an image
 * spec synchronously before any byte is loaded.
 */
import { Rng } from '../util/rng';
import { SpecError } from '../experiment/errors';
import type { ExperimentSpec } from '../experiment/types';

export interface ImageSetMeta {
  title: string;
  file: string;
  shape: [number, number, number];
  classes: number;
  classNames: string[];
  /** Cumulative number of train-pool / test-pool images of classes 0..k (index k). */
  trainCum: number[];
  testCum: number[];
  bits: 4 | 8;
  max: number;
  license: string;
}

/** Static facts of the committed files (checked against the bytes by `decodeImageSet`). */
export const IMAGE_SETS: Record<string, ImageSetMeta> = {
  digits: {
    title: '8×8 handwritten digits (scikit-learn / UCI optdigits)',
    file: 'digits-8x8.bin',
    shape: [1, 8, 8],
    classes: 10,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    trainCum: [128, 259, 387, 519, 649, 780, 910, 1039, 1167, 1297],
    testCum: [50, 101, 150, 201, 252, 303, 354, 404, 450, 500],
    bits: 8,
    max: 16,
    license: 'BSD-3-Clause (scikit-learn); data: UCI optdigits, Alpaydin & Kaynak (1998)',
  },
  fashion: {
    title: 'Fashion-MNIST 14×14 subset (Zalando Research)',
    file: 'fashion-14x14.bin',
    shape: [1, 14, 14],
    classes: 10,
    classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
    trainCum: [120, 240, 360, 480, 600, 720, 840, 960, 1080, 1200],
    testCum: [40, 80, 120, 160, 200, 240, 280, 320, 360, 400],
    bits: 4,
    max: 15,
    license: 'MIT, Copyright 2017 Zalando SE',
  },
};

export const isImageDataset = (name: unknown): name is keyof typeof IMAGE_SETS =>
  typeof name === 'string' && Object.prototype.hasOwnProperty.call(IMAGE_SETS, name);

/** True when a spec's `data` names one of the image sets. */
export function isImageData(data: unknown): data is Record<string, unknown> & { dataset: string } {
  return typeof data === 'object' && data !== null && !Array.isArray(data) && isImageDataset((data as { dataset?: unknown }).dataset);
}

/** A decoded image set: labels and pixels scaled to [0, 1]. */
export interface ImageSet {
  name: string;
  meta: ImageSetMeta;
  /** Train pool first, then test pool. */
  labels: Uint8Array;
  /** count x (C*H*W), row-major, in [0, 1]. */
  pixels: Float32Array;
  trainPool: number;
  testPool: number;
}

/** Decode the bytes of `public/datasets/<meta.file>`; throws if they do not match the metadata. */
export function decodeImageSet(name: string, bytes: Uint8Array): ImageSet {
  if (!isImageDataset(name)) throw new Error(`unknown image set "${name}"`);
  const meta = IMAGE_SETS[name];
  const trainPool = meta.trainCum[meta.classes - 1];
  const testPool = meta.testCum[meta.classes - 1];
  const count = trainPool + testPool;
  const d = meta.shape[0] * meta.shape[1] * meta.shape[2];
  const expected = count + (count * d * meta.bits) / 8;
  if (bytes.length !== expected) {
    throw new Error(`${meta.file}: expected ${expected} bytes, found ${bytes.length} (regenerate with scripts/make-datasets.py)`);
  }
  const labels = bytes.slice(0, count);
  const pixels = new Float32Array(count * d);
  const body = bytes.subarray(count);
  if (meta.bits === 8) {
    for (let i = 0; i < pixels.length; i++) pixels[i] = body[i] / meta.max;
  } else {
    for (let i = 0; i < body.length; i++) {
      pixels[2 * i] = (body[i] >> 4) / meta.max;
      pixels[2 * i + 1] = (body[i] & 15) / meta.max;
    }
  }
  // The pools must hold the class counts the static metadata promises.
  const check = (from: number, to: number, cum: number[], what: string) => {
    const counts = new Array<number>(meta.classes).fill(0);
    for (let i = from; i < to; i++) {
      if (labels[i] >= meta.classes) throw new Error(`${meta.file}: label ${labels[i]} out of range`);
      counts[labels[i]]++;
    }
    let s = 0;
    counts.forEach((c, k) => {
      s += c;
      if (s !== cum[k]) throw new Error(`${meta.file}: ${what} pool class counts differ from the metadata`);
    });
  };
  check(0, trainPool, meta.trainCum, 'train');
  check(trainPool, count, meta.testCum, 'test');
  return { name, meta, labels, pixels, trainPool, testPool };
}

/** Validated options of an image-data spec. */
export interface ImageDataOptions {
  dataset: string;
  n: number;
  nTest: number;
  seed: number;
  labelNoise: number;
  /** Use the first `classes` classes only (2..10). */
  classes: number;
}

const IMAGE_KEYS = ['dataset', 'n', 'n_test', 'seed', 'label_noise', 'classes'];

/** Validate `spec.data` for an image set (throws a SpecError naming the field). */
export function checkImageData(data: Record<string, unknown>, field = 'data'): ImageDataOptions {
  const name = data.dataset;
  if (!isImageDataset(name)) throw new SpecError(`${field}.dataset`, `one of ${Object.keys(IMAGE_SETS).join(', ')}`, JSON.stringify(name));
  const meta = IMAGE_SETS[name];
  for (const k of Object.keys(data)) {
    if (!IMAGE_KEYS.includes(k)) throw new SpecError(`${field}.${k}`, `one of ${IMAGE_KEYS.join(', ')}`, `an unknown key "${k}"`);
  }
  const int = (key: string, def: number, min: number, max: number) => {
    const v = data[key] ?? def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new SpecError(`${field}.${key}`, `an integer in ${min}..${max}`, JSON.stringify(v) ?? String(v));
    }
    return v;
  };
  const classes = int('classes', meta.classes, 2, meta.classes);
  const n = int('n', 200, 1, meta.trainCum[classes - 1]);
  const nTest = int('n_test', 0, 0, meta.testCum[classes - 1]);
  const seed = int('seed', 0, 0, 0xffffffff);
  const ln = data.label_noise ?? 0;
  if (typeof ln !== 'number' || !Number.isFinite(ln) || ln < 0 || ln > 1) {
    throw new SpecError(`${field}.label_noise`, 'a number in [0, 1]', JSON.stringify(ln) ?? String(ln));
  }
  return { dataset: name, n, nTest, seed, labelNoise: ln, classes };
}

/** Check that a model fits the image set: input [C, H, W] and a compatible number of outputs. */
export function checkImageModel(opts: ImageDataOptions, spec: Pick<ExperimentSpec, 'model' | 'loss'>, outputs: number): void {
  const meta = IMAGE_SETS[opts.dataset];
  const input = spec.model?.input;
  if (!Array.isArray(input) || input.join(',') !== meta.shape.join(',')) {
    throw new SpecError('model.input', `[${meta.shape.join(', ')}] for the ${opts.dataset} images`, Array.isArray(input) ? `[${input.join(', ')}]` : String(input));
  }
  const ok = outputs === opts.classes || (spec.loss === 'mse' && outputs === 1 && opts.classes === 2);
  if (!ok) {
    throw new SpecError(
      'model.layers',
      `a last layer with ${opts.classes} outputs (one per class${opts.classes === 2 ? ', or 1 with mse' : ''})`,
      `${outputs} outputs`,
    );
  }
}

/** Image indices and (possibly noisy) labels of a seeded subset; `flipped` marks noisy labels. */
export function sampleImages(set: ImageSet, opts: ImageDataOptions) {
  const rng = new Rng(opts.seed * 2 + 1);
  const pick = (from: number, to: number, count: number) => {
    const pool: number[] = [];
    for (let i = from; i < to; i++) if (set.labels[i] < opts.classes) pool.push(i);
    rng.shuffle(pool);
    return pool.slice(0, count);
  };
  const train = pick(0, set.trainPool, opts.n);
  const test = pick(set.trainPool, set.trainPool + set.testPool, opts.nTest);
  const labels = train.map((i) => set.labels[i]);
  const labelsTest = test.map((i) => set.labels[i]);
  const flipped = new Array<boolean>(train.length).fill(false);
  const nFlip = Math.round(opts.labelNoise * train.length);
  if (nFlip > 0) {
    const noise = new Rng(opts.seed * 2 + 3);
    const order = train.map((_, i) => i);
    noise.shuffle(order);
    for (const i of order.slice(0, nFlip)) {
      labels[i] = (labels[i] + 1 + noise.int(opts.classes - 1)) % opts.classes;
      flipped[i] = true;
    }
  }
  return { train, test, labels, labelsTest, flipped };
}

function nestImage(set: ImageSet, index: number): number[][][] {
  const [C, H, W] = set.meta.shape;
  const d = C * H * W;
  const base = index * d;
  const out: number[][][] = [];
  for (let ch = 0; ch < C; ch++) {
    const plane: number[][] = [];
    for (let y = 0; y < H; y++) {
      const row = new Array<number>(W);
      for (let x = 0; x < W; x++) row[x] = set.pixels[base + ch * H * W + y * W + x];
      plane.push(row);
    }
    out.push(plane);
  }
  return out;
}

function encodeTargets(labels: number[], loss: string, outputs: number): unknown {
  if (loss === 'cross_entropy') return labels;
  if (outputs === 1) return labels.map((l) => [l === 1 ? 1 : -1]);
  return labels.map((l) => {
    const row = new Array<number>(outputs).fill(0);
    row[l] = 1;
    return row;
  });
}

/** Number of outputs of a raw model spec (last dense layer's units), or null if not evident. */
export function declaredOutputs(spec: Pick<ExperimentSpec, 'model'>): number | null {
  const layers = spec.model?.layers;
  if (!Array.isArray(layers)) return null;
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i] as { type?: unknown; units?: unknown };
    if (l?.type === 'dense') return typeof l.units === 'number' ? l.units : null;
    if (l?.type === 'conv2d') return null;
  }
  return null;
}

/**
 * The spec with its image `data` replaced by explicit arrays (what `validateSpec` reads).
 * Also returns the noisy-label flags (the difficulty groups of the NTK-alignment setup).
 */
export function resolveImageSpec(spec: ExperimentSpec, set: ImageSet): { spec: ExperimentSpec; flipped: boolean[] } {
  const opts = checkImageData(spec.data as Record<string, unknown>);
  if (opts.dataset !== set.name) throw new Error(`image set ${set.name} given for data.dataset ${opts.dataset}`);
  const outputs = declaredOutputs(spec) ?? opts.classes;
  checkImageModel(opts, spec, outputs);
  const s = sampleImages(set, opts);
  const data = {
    x: s.train.map((i) => nestImage(set, i)),
    y: encodeTargets(s.labels, spec.loss, outputs),
    x_test: s.test.map((i) => nestImage(set, i)),
    y_test: encodeTargets(s.labelsTest, spec.loss, outputs),
  };
  return { spec: { ...spec, data }, flipped: s.flipped };
}

/**
 * The spec with image `data` replaced by zero images of the right shape and count, so that
 * `validateSpec` can check the model, the training settings and the sizes without the pixels.
 */
export function placeholderImageSpec(spec: ExperimentSpec): ExperimentSpec {
  const opts = checkImageData(spec.data as Record<string, unknown>);
  const outputs = declaredOutputs(spec) ?? opts.classes;
  checkImageModel(opts, spec, outputs);
  const [C, H, W] = IMAGE_SETS[opts.dataset].shape;
  const zero = Array.from({ length: C }, () => Array.from({ length: H }, () => new Array<number>(W).fill(0)));
  const labels = (k: number) => Array.from({ length: k }, (_, i) => i % opts.classes);
  return {
    ...spec,
    data: {
      x: new Array(opts.n).fill(zero),
      y: encodeTargets(labels(opts.n), spec.loss, outputs),
      x_test: new Array(opts.nTest).fill(zero),
      y_test: encodeTargets(labels(opts.nTest), spec.loss, outputs),
    },
  };
}
