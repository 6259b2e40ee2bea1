/**
 * Lab document <-> URL hash. The hash is `#run=` followed by the document's compact JSON in
 * base64url (UTF-8), so a link carries the full spec, seeds included, and opening it reproduces
 * the run. Decoding is JSON.parse + checkDoc: nothing in a link is ever evaluated as code, and a
 * corrupted or hostile hash yields a message, never an exception or a partial document.
 */
import { checkDoc, errorMessage } from './doc/check';
import { type LabDoc } from './doc/document';

export const HASH_KEY = 'run';
/** Longest hash accepted (a spec with uploaded data can be large; beyond this, export JSON). */
export const MAX_HASH_CHARS = 400_000;

export function toBase64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64Url(s: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new Error('the link is not base64url text (was it cut or edited?)');
  if (s.length % 4 === 1) throw new Error('the link was cut: its base64url text has an impossible length');
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // The browser's own message ("The encoded data was not valid for encoding utf-8") says
    // nothing to a user: a link's payload decodes to text only if it is intact.
    throw new Error('its base64url text does not decode to a document (was it cut or edited?)');
  }
}

/** Only the fields a document has (drops anything extra a caller may have attached). */
function plainDoc(doc: LabDoc): LabDoc {
  const plain: LabDoc = { v: 1, spec: doc.spec, compare: doc.compare, view: doc.view };
  return doc.metrics ? { ...plain, metrics: doc.metrics } : plain;
}

export function encodeDoc(doc: LabDoc): string {
  return `${HASH_KEY}=${toBase64Url(JSON.stringify(plainDoc(doc)))}`;
}

export type DecodeResult = { kind: 'none' } | { kind: 'doc'; doc: LabDoc } | { kind: 'error'; message: string };

/** Decode `location.hash` (with or without the leading '#'). */
export function decodeHash(hash: string): DecodeResult {
  const h = hash.startsWith('#') ? hash.slice(1) : hash;
  if (h === '') return { kind: 'none' };
  if (h.length > MAX_HASH_CHARS) {
    return { kind: 'error', message: `The link is too long (${h.length.toLocaleString('en')} characters; at most ${MAX_HASH_CHARS.toLocaleString('en')}).` };
  }
  const params = new URLSearchParams(h);
  const payload = params.get(HASH_KEY);
  if (payload === null) return { kind: 'error', message: `The link has no "#${HASH_KEY}=…" part; the default experiment is shown.` };
  let text: string;
  try {
    text = fromBase64Url(payload);
  } catch (e) {
    return { kind: 'error', message: `The link is corrupted: ${errorMessage(e)}.` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { kind: 'error', message: 'The link is corrupted: its content is not JSON.' };
  }
  try {
    return { kind: 'doc', doc: checkDoc(raw) };
  } catch (e) {
    return { kind: 'error', message: `The link's experiment is invalid: ${errorMessage(e)}.` };
  }
}
