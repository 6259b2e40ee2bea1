/** Type guards for parsed JSON (specs, lab documents, run files, convergence files). */

/** A JSON object (not null, not an array). */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
