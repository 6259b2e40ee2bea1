// The lab's document <-> URL hash serializer: round trips, and corrupted or hostile links
// that must give a message (never an exception, never evaluated, never a partial document).
import { describe, expect, it } from 'vitest';
import { decodeHash, encodeDoc, fromBase64Url, toBase64Url, MAX_HASH_CHARS } from '../src/lab/url';
import { DEFAULT_DOC, type LabDoc } from '../src/lab/doc/document';
import { PRESETS } from '../src/lab/presets';

const hashOf = (value: unknown) => `#run=${toBase64Url(JSON.stringify(value))}`;

describe('lab URL', () => {
  it('round-trips the default document and every preset', () => {
    for (const doc of [DEFAULT_DOC, ...PRESETS.map((p) => p.doc)]) {
      const d = decodeHash(`#${encodeDoc(doc)}`);
      expect(d.kind).toBe('doc');
      expect((d as { doc: LabDoc }).doc).toEqual(doc);
    }
  });

  it('round-trips unicode text and keeps seeds', () => {
    const doc: LabDoc = { ...DEFAULT_DOC, spec: { ...DEFAULT_DOC.spec, name: 'α = 100 — ünïcödé ✓', init: { seed: 4294967295, scheme: 'standard', gain: 1 } } };
    const d = decodeHash(encodeDoc(doc));
    expect(d.kind).toBe('doc');
    expect((d as { doc: LabDoc }).doc.spec.name).toBe('α = 100 — ünïcödé ✓');
    expect((d as { doc: LabDoc }).doc.spec.init!.seed).toBe(4294967295);
    expect(fromBase64Url(toBase64Url('a\u0000b✓'))).toBe('a\u0000b✓');
  });

  it('accepts a bare experiment spec in the link', () => {
    const d = decodeHash(hashOf(DEFAULT_DOC.spec));
    expect(d.kind).toBe('doc');
  });

  it('reports an empty hash as no document', () => {
    expect(decodeHash('').kind).toBe('none');
    expect(decodeHash('#').kind).toBe('none');
  });

  const bad: [string, string, RegExp][] = [
    ['not base64url', '#run=%%%%', /corrupted/],
    ['cut base64url', `#${encodeDoc(DEFAULT_DOC).slice(0, 41)}`, /corrupted|impossible length/],
    ['invalid UTF-8', `#run=${Buffer.from([0xff, 0xfe, 0xfd]).toString('base64url')}`, /^The link is corrupted: its base64url text does not decode to a document \(was it cut or edited\?\)\.$/],
    ['garbage', '#run=garbage', /^The link is corrupted: its base64url text does not decode to a document/],
    ['bad metrics', hashOf({ ...DEFAULT_DOC, metrics: { events: -3 } }), /metrics\.events/],
    ['not JSON', `#run=${toBase64Url('{"v":1, spec: alert(1)}')}`, /not JSON/],
    ['code as text', `#run=${toBase64Url('alert(document.cookie)')}`, /not JSON/],
    ['no run key', '#foo=bar', /no "#run=/],
    ['an array', hashOf([1, 2, 3]), /document: expected a JSON object/],
    ['a number', hashOf(42), /expected a JSON object/],
    ['wrong version', hashOf({ v: 2, spec: DEFAULT_DOC.spec }), /document\.v/],
    ['unknown top key', hashOf({ ...DEFAULT_DOC, script: '<img onerror=alert(1)>' }), /document\.script/],
    ['model as a string', hashOf({ v: 1, spec: { ...DEFAULT_DOC.spec, model: 'alert(1)' } }), /model/],
    ['huge n', hashOf({ v: 1, spec: { ...DEFAULT_DOC.spec, data: { dataset: 'disk', n: 1e9 } } }), /data\.n/],
    ['n above the lab limit', hashOf({ v: 1, spec: { ...DEFAULT_DOC.spec, data: { dataset: 'disk', n: 50000 } } }), /data\.n/],
    ['huge width', hashOf({ v: 1, spec: { ...DEFAULT_DOC.spec, model: { input: [2], layers: [{ type: 'dense', units: 60000, activation: 'relu' }, { type: 'dense', units: 60000, activation: 'relu' }, { type: 'dense', units: 1, activation: 'linear' }] } } }), /parameters/],
    ['NaN-like lr', hashOf({ v: 1, spec: { ...DEFAULT_DOC.spec, train: { optimizer: 'gd', lr: 'NaN', steps: 10 } } }), /train\.lr/],
    ['negative lr', hashOf({ v: 1, spec: { ...DEFAULT_DOC.spec, train: { optimizer: 'gd', lr: -1, steps: 10 } } }), /train\.lr/],
    ['unknown dataset', hashOf({ v: 1, spec: { ...DEFAULT_DOC.spec, data: { dataset: '../../etc/passwd', n: 10 } } }), /data\.dataset/],
    ['bad compare', hashOf({ ...DEFAULT_DOC, compare: { param: 'eval', values: [1] } }), /compare\.param/],
    ['too many compare runs', hashOf({ ...DEFAULT_DOC, compare: { param: 'alpha', values: [1, 2, 3, 4, 5, 6, 7] } }), /compare\.values/],
    ['bad view', hashOf({ ...DEFAULT_DOC, view: { alignment: 'x' } }), /view\.alignment/],
    ['too long', `#run=${'A'.repeat(MAX_HASH_CHARS + 1)}`, /too long/],
  ];
  for (const [what, hash, message] of bad) {
    it(`rejects a link with ${what}`, () => {
      const d = decodeHash(hash);
      expect(d.kind).toBe('error');
      expect((d as { message: string }).message).toMatch(message);
    });
  }

  it('does not pollute prototypes', () => {
    const d = decodeHash(`#run=${toBase64Url('{"__proto__": {"polluted": 1}, "v": 1}')}`);
    expect(d.kind).toBe('error');
    const d2 = decodeHash(hashOf({ v: 1, spec: JSON.parse('{"__proto__": {"polluted": 1}}') }));
    expect(d2.kind).toBe('error');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
