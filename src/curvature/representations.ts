/**
 * The Fisher representations behind one interface (NNGeometry's PMatDense, PMatDiag,
 * PMatBlockDiag, PMatKFAC, PMatEKFAC, PMatImplicit, PMatLowRank), and a factory.
 *
 *   const src = FisherSource.create(ctx, plan, x, n, theta, loss);
 *   const F = await buildFisher('ekfac', src);
 *   const Fv = F.mv(v); const x = await F.solve(g, 1e-3); ...
 *   F.dispose(); src.dispose();
 *
 * Every representation except Implicit copies what it needs, so the source may be disposed
 * right after building it; Implicit borrows the source (dispose the representation first).
 */
import { DenseFisher, BlockDiagFisher, DiagFisher, type FisherKind, type FisherRepresentation } from './fisher';
import { EkfacFisher, KfacFisher, type KronOptions } from './fisher-kron';
import { ImplicitFisher, LowRankFisher, type ConjugateGradientOptions } from './fisher-free';
import type { FisherSource } from './source';

export { FisherSource } from './source';
export { DenseFisher, DiagFisher, BlockDiagFisher, SingularError, UnsupportedOperationError } from './fisher';
export type { FisherKind, FisherRepresentation } from './fisher';
export { KfacFisher, EkfacFisher } from './fisher-kron';
export { ImplicitFisher, LowRankFisher } from './fisher-free';

export const FISHER_KINDS: readonly FisherKind[] = ['dense', 'diag', 'block-diag', 'kfac', 'ekfac', 'implicit', 'low-rank'];

export interface BuildOptions extends KronOptions {
  /** LowRank: keep at most this many eigenpairs. */
  rank?: number;
  /** Implicit: conjugate-gradient settings. */
  cg?: ConjugateGradientOptions;
}

/** Build a representation of the source's Fisher. */
export async function buildFisher(kind: FisherKind, src: FisherSource, opts: BuildOptions = {}): Promise<FisherRepresentation> {
  switch (kind) {
    case 'dense':
      return DenseFisher.fromSource(src);
    case 'diag':
      return DiagFisher.fromSource(src);
    case 'block-diag':
      return BlockDiagFisher.fromSource(src);
    case 'kfac':
      return KfacFisher.fromSource(src, opts);
    case 'ekfac':
      return EkfacFisher.fromSource(src, opts);
    case 'implicit':
      return ImplicitFisher.fromSource(src, opts.cg);
    case 'low-rank':
      return LowRankFisher.fromSource(src, { rank: opts.rank });
    default:
      throw new Error(`unknown Fisher representation "${String(kind)}" (one of ${FISHER_KINDS.join(', ')})`);
  }
}
