/**
 * Per-layer comparison of KFAC and EKFAC with the exact Fisher block at the current parameters,
 * for the lab's curvature panel. Computed on at most `CURVATURE_EXAMPLES` training examples with
 * the float64 reference (src/reference), which is exact and fast at this size.
 */
import { computeReferenceResults } from '../../reference/results';
import { eigvalsSym } from '../../math/linalg';
import { planOf } from '../../model/layout';
import type { ResolvedSpec } from '../../experiment/types';
import type { CurvatureReport } from '../session-types';
import type { DynamicsBackend } from '../../dynamics/backend';

export const CURVATURE_EXAMPLES = 64;
/** Largest layer block whose exact spectrum is reported (a dense f64 eigendecomposition). */
const SPECTRUM_MAX_PARAMS = 400;

export async function curvatureReport(backend: DynamicsBackend, spec: ResolvedSpec, step: number): Promise<CurvatureReport> {
  const theta = await backend.parameters('actual');
  const plan = planOf(spec);
  const d = spec.data;
  const m = Math.min(d.n, CURVATURE_EXAMPLES);
  const inSize = plan.inputSize;
  const c = plan.c;
  const sub: ResolvedSpec = {
    ...spec,
    theta,
    train: null,
    compute: null,
    options: { ...spec.options, block_max_params: SPECTRUM_MAX_PARAMS },
    data: {
      ...d,
      n: m,
      x: d.x.subarray(0, m * inSize),
      y: d.y.subarray(0, m * c),
      labels: d.labels ? d.labels.subarray(0, m) : null,
      nTest: 0,
      xTest: new Float64Array(0),
      yTest: new Float64Array(0),
      labelsTest: d.labelsTest ? new Int32Array(0) : null,
    },
  };
  const kfac = computeReferenceResults(sub, ['kfac']).kfac!;
  return {
    step,
    layers: kfac.map((k) => {
      let spectra: CurvatureReport['layers'][number]['spectra'] = null;
      if (k.exact_block) {
        const P = k.param_size;
        const exact = Array.from(eigvalsSym(Float64Array.from(k.exact_block.flat()), P)).reverse();
        const kfacEig = k.eig_G.flatMap((g) => k.eig_A.map((a) => g * a)).sort((x, y) => y - x);
        const ekfacEig = k.ekfac_s.flat().sort((x, y) => y - x);
        spectra = { exact, kfac: kfacEig, ekfac: ekfacEig };
      }
      return { index: k.layer_index, frobExact: k.frob_exact, frobErrKfac: k.frob_err_kfac, frobErrEkfac: k.frob_err_ekfac, spectra };
    }),
  };
}
