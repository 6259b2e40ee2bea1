/**
 * The engine's errors. Each carries a `code` saying what kind of failure it is, so consumers
 * (the lab's worker, the CLI) classify errors by code, never by class name or message text.
 *
 * - `spec`: the experiment spec is invalid; `field` names the offending field.
 * - `limit`: a request exceeds a device or engine limit, named in the message.
 * - `divergence`: training blew up; the message names the step and a stable learning rate.
 * - `unsupported`: a valid request this part of the engine cannot serve (never a wrong answer).
 * - `numeric`: a numerical operation that is undefined for this input (a singular solve).
 * - `device`: the GPU device failed (lost, out of memory, validation error).
 * Anything else (a bug, an I/O failure) is `runtime`.
 */
export type ErrorCode = 'spec' | 'limit' | 'divergence' | 'unsupported' | 'numeric' | 'device' | 'runtime';

export class TangentError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The code of any thrown value (`runtime` for everything that is not a TangentError). */
export function errorCode(e: unknown): ErrorCode {
  return e instanceof TangentError ? e.code : 'runtime';
}

/** An invalid spec: `field` names the offending spec field, `expected` and `found` say what was wrong. */
export class SpecError extends TangentError {
  constructor(
    readonly field: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super('spec', `${field}: expected ${expected}, found ${found}`);
  }
}

/** A request that exceeds a device limit; names the limit so the user knows what to change. */
export class LimitError extends TangentError {
  constructor(
    readonly limit: string,
    readonly requested: number,
    readonly available: number,
    what: string,
  ) {
    super('limit', `${what} needs ${formatBytesOrCount(limit, requested)}, above the device limit ${limit} = ${formatBytesOrCount(limit, available)}`);
  }
}

function formatBytesOrCount(limit: string, v: number): string {
  if (!/Size$/.test(limit)) return String(v);
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(1)} MiB`;
  if (v >= 1 << 10) return `${(v / (1 << 10)).toFixed(1)} KiB`;
  return `${v} B`;
}

/** Raised when training diverges; names the step and suggests the stability bound. */
export class DivergenceError extends TangentError {
  constructor(
    readonly step: number,
    readonly model: 'actual' | 'linearized',
    readonly stableLr: number,
    lr: number,
    /** What went wrong (default: the loss or parameters became non-finite). */
    what = "loss or parameters became non-finite",
  ) {
    super(
      'divergence',
      `learning rate ${lr} diverged at step ${step}: the ${model} model's ${what}; ` +
        `try a learning rate below ${stableLr.toPrecision(3)} (the NTK's stability bound 2n/lambda_max)`,
    );
  }
}

/** A valid request that this part of the engine does not serve. */
export class UnsupportedError extends TangentError {
  constructor(message: string) {
    super('unsupported', message);
  }
}
