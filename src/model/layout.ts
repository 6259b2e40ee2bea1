/**
 * The one source of truth for shapes and the parameter layout (fixture README section 1).
 *
 * For every parametrized layer `l` the augmented matrix `W~_l = [W_flat | b]` of shape
 * `(out, fanIn + 1)` is flattened row-major into `theta[offset : offset + size]`.
 * Conv weights are flattened in `(cin, kh, kw)` C-order, so `W_flat[o]` lines up with an
 * unfold patch. Every kernel wrapper, the f64 reference and the runner use this plan.
 */
import { SpecError } from '../experiment/errors';
import type { Activation, ActShape, LayerSpec, Parameterization, ResolvedModel } from '../experiment/types';

export interface DensePlan {
  kind: 'dense';
  /** Index into `model.layers`. */
  layerIndex: number;
  /** Index among parametrized layers. */
  paramIndex: number;
  activation: Activation;
  inShape: ActShape;
  outShape: ActShape;
  fanIn: number;
  out: number;
  /** Spatial positions T (1 for dense). */
  positions: number;
  offset: number;
  size: number;
  /** Multiplier of the layer input (1, or sigma_w / sqrt(fanIn) under the NTK parameterization). */
  wMul: number;
  /** Value appended to the augmented input (1, or sigma_b under the NTK parameterization). */
  bMul: number;
}

export interface ConvPlan extends Omit<DensePlan, 'kind'> {
  kind: 'conv2d';
  cin: number;
  h: number;
  w: number;
  kernel: number;
  stride: number;
  padding: number;
  hOut: number;
  wOut: number;
}

export interface PoolPlan {
  kind: 'avgpool2d';
  layerIndex: number;
  inShape: ActShape;
  outShape: ActShape;
  size: number;
}

export interface FlattenPlan {
  kind: 'flatten';
  layerIndex: number;
  inShape: ActShape;
  outShape: ActShape;
}

export type ParamLayerPlan = DensePlan | ConvPlan;
export type LayerPlan = ParamLayerPlan | PoolPlan | FlattenPlan;

export interface ModelPlan {
  input: ActShape;
  inputSize: number;
  layers: LayerPlan[];
  paramLayers: ParamLayerPlan[];
  /** Total number of parameters P. */
  P: number;
  /** Number of outputs c. */
  c: number;
  parameterization: Parameterization;
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);


function multipliers(p: Parameterization, fanIn: number, sigmaW: number, sigmaB: number) {
  return p === 'ntk' ? { wMul: sigmaW / Math.sqrt(fanIn), bMul: sigmaB } : { wMul: 1, bMul: 1 };
}

/** Plan of a resolved spec (cheap; recomputed rather than stored so ResolvedSpec stays plain data). */
export function planOf(spec: { model: ResolvedModel }): ModelPlan {
  return planModel(spec.model);
}

/** Resolve shapes and parameter offsets for a validated model. */
export function planModel(model: ResolvedModel): ModelPlan {
  let shape: ActShape = model.input.slice();
  const layers: LayerPlan[] = [];
  const paramLayers: ParamLayerPlan[] = [];
  let offset = 0;
  model.layers.forEach((spec: LayerSpec, layerIndex) => {
    const field = `model.layers[${layerIndex}]`;
    switch (spec.type) {
      case 'dense': {
        const fanIn = numel(shape);
        const out = spec.units;
        const plan: DensePlan = {
          kind: 'dense',
          layerIndex,
          paramIndex: paramLayers.length,
          activation: spec.activation,
          inShape: shape,
          outShape: [out],
          fanIn,
          out,
          positions: 1,
          offset,
          size: out * (fanIn + 1),
          ...multipliers(model.parameterization, fanIn, model.sigmaW, model.sigmaB),
        };
        offset += plan.size;
        layers.push(plan);
        paramLayers.push(plan);
        shape = plan.outShape;
        break;
      }
      case 'conv2d': {
        if (shape.length !== 3) {
          throw new SpecError(field, 'an image input [C, H, W] for conv2d', `an activation of shape [${shape.join(', ')}]`);
        }
        const [cin, h, w] = shape;
        const k = spec.kernel;
        const stride = spec.stride ?? 1;
        const padding = spec.padding ?? 0;
        if (k > h + 2 * padding || k > w + 2 * padding) {
          throw new SpecError(
            `${field}.kernel`,
            `a kernel no larger than the padded input ${h + 2 * padding}x${w + 2 * padding}`,
            String(k),
          );
        }
        const hOut = Math.floor((h + 2 * padding - k) / stride) + 1;
        const wOut = Math.floor((w + 2 * padding - k) / stride) + 1;
        const fanIn = cin * k * k;
        const out = spec.filters;
        const plan: ConvPlan = {
          kind: 'conv2d',
          layerIndex,
          paramIndex: paramLayers.length,
          activation: spec.activation,
          inShape: shape,
          outShape: [out, hOut, wOut],
          fanIn,
          out,
          positions: hOut * wOut,
          offset,
          size: out * (fanIn + 1),
          cin,
          h,
          w,
          kernel: k,
          stride,
          padding,
          hOut,
          wOut,
          ...multipliers(model.parameterization, fanIn, model.sigmaW, model.sigmaB),
        };
        offset += plan.size;
        layers.push(plan);
        paramLayers.push(plan);
        shape = plan.outShape;
        break;
      }
      case 'avgpool2d': {
        if (shape.length !== 3) {
          throw new SpecError(field, 'an image input [C, H, W] for avgpool2d', `an activation of shape [${shape.join(', ')}]`);
        }
        const [ch, h, w] = shape;
        const q = spec.size;
        if (q > h || q > w) {
          throw new SpecError(`${field}.size`, `a pooling window no larger than the input ${h}x${w}`, String(q));
        }
        const plan: PoolPlan = {
          kind: 'avgpool2d',
          layerIndex,
          inShape: shape,
          outShape: [ch, Math.floor(h / q), Math.floor(w / q)],
          size: q,
        };
        layers.push(plan);
        shape = plan.outShape;
        break;
      }
      case 'flatten': {
        const plan: FlattenPlan = { kind: 'flatten', layerIndex, inShape: shape, outShape: [numel(shape)] };
        layers.push(plan);
        shape = plan.outShape;
        break;
      }
    }
  });
  if (paramLayers.length === 0) {
    throw new SpecError('model.layers', 'at least one dense or conv2d layer', 'none');
  }
  if (shape.length !== 1) {
    throw new SpecError('model.layers', 'a last layer with a vector output (end with flatten or dense)', `an output of shape [${shape.join(', ')}]`);
  }
  return {
    input: model.input.slice(),
    inputSize: numel(model.input),
    layers,
    paramLayers,
    P: offset,
    c: shape[0],
    parameterization: model.parameterization,
  };
}

/** Indices (among parametrized layers) of layers with a relu activation. */
export function reluLayers(plan: ModelPlan): ParamLayerPlan[] {
  return plan.paramLayers.filter((l) => l.activation === 'relu');
}
