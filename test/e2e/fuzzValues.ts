import fc from 'fast-check';
import type { CallOptions } from '../support/app.js';

// Values for the fuzz run (fuzz.e2e.test.ts): near-valid, odd and hostile inputs of every kind.

/** A generated request, printed with long strings cut short when fast-check reports it. */
export class FuzzRequest {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly options: CallOptions,
  ) {}
  [fc.toStringMethod]() {
    const short = (_key: string, value: unknown) =>
      typeof value === 'string' && value.length > 120 ? `${value.slice(0, 40)}…(${value.length} chars of ${JSON.stringify(value.slice(0, 1))})` : value;
    const token = this.options.token ? `${this.options.token.slice(0, 12)}…` : undefined;
    // Escaped, so invisible characters (U+202E, U+FEFF, …) show in the report.
    const visible = (json: string) => json.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    return `${this.method} ${short('', this.url)} ${visible(JSON.stringify({ ...this.options, token }, short))}`;
  }
}

// ---- values ----

export const EXTREME_DATES = [
  '2020-01-01T00:00:00Z',
  '2020-01-01T00:00:00+14:00',
  '2020-01-01T00:00:00+25:00',
  '2020-01-01',
  '9999-12-31T23:59:59.999Z',
  '+275760-09-13T00:00:00.000Z',
  '-271821-04-20T00:00:00.000Z',
  '-000001-01-01T00:00:00Z',
  '0000-01-01T00:00:00Z',
  '0001-01-01T00:00:00Z',
  '2024-02-30T00:00:00Z',
  '2024-13-01',
  '2030-01-01T25:61:61Z',
  '20240101T000000Z',
  '1e10',
  '0',
];
export const SPECIAL_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\uFEFF',
  '\u202E',
  '\u2028',
  '👩‍👩‍👧‍👦',
  "' OR 1=1 --",
  '%',
  '%00',
  '\\',
  '__proto__',
  'constructor',
  'null',
  'NaN',
  '-1',
  '1e309',
  '99999999999999999999',
];
export const NUMBERS = [0, -1, 1, 1.5, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, -1e308, 1e-300, 100, 101, 1_000_000, 1_000_001];

/** encodeURIComponent, with lone surrogates (which it refuses) sent as their raw UTF-8 bytes. */
export const urlEncode = (value: string) => {
  const pieces = value.split(/([\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff])/);
  return pieces.map((p, i) => (i % 2 ? '%ED%A0%80' : encodeURIComponent(p))).join('');
};

export const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_STRINGS) },
  { weight: 2, arbitrary: fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom('\u0000', '\ud800', '\udc00', '\uffff', '\u0001')).map(([s, c]) => `${s}${c}${s}`) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 99, 100, 101, 199, 200, 201, 254, 255, 5000, 5001, 20_000).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom(60_000, 120_000).chain((n) => fc.constantFrom('x', 'é', '\u{1F600}').map((c) => c.repeat(n))) },
);
export const dateText = fc.oneof(
  fc.constantFrom(...EXTREME_DATES),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.date({ min: new Date('1990-01-01'), max: new Date('2040-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
);
export const intText = fc.oneof(fc.integer({ min: -3, max: 103 }), fc.constantFrom(...NUMBERS), fc.integer());
export const oneOf = (values: readonly string[]) =>
  fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: fc.constantFrom(...values).map((v) => v.toLowerCase()) }, { weight: 1, arbitrary: text });

/** Generic odd values: any JSON, wrong types, deep nesting. */
export const weird: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: text },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(...NUMBERS, null, true, false, [], {}) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.array(text, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.letrec((tie) => ({ deep: fc.oneof({ depthSize: 'small' }, fc.constant(1), fc.record({ a: tie('deep') })) })).deep },
);

/** JSON nested up to tens of thousands of levels (within the body limit), as arrays, objects or both in turn. */
export const deepJson = fc
  .tuple(fc.constantFrom(1, 2, 31, 32, 33, 64, 500, 2000, 12_000, 45_000), fc.constantFrom('[', '{"a":', '[{"a":'), fc.constantFrom('1', '"x"', '{}', '[]', 'null'))
  .map(([depth, open, leaf]) => {
    const close = [...open].filter((c) => c === '[' || c === '{').map((c) => (c === '[' ? ']' : '}')).reverse().join('');
    const units = Math.min(depth, Math.floor(90_000 / (open.length + close.length)));
    return `${open.repeat(units)}${leaf}${close.repeat(units)}`;
  });

/** Shapes no schema expects: very wide arrays and objects, prototype keys, duplicate keys. */
export const oddJson = fc.oneof(
  fc.constantFrom(1000, 20_000).map((n) => JSON.stringify(Array.from({ length: n }, (_, i) => i))),
  fc.constantFrom(100, 5000).map((n) => JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])))),
  fc.constantFrom('{"__proto__":{"title":"x"}}', '{"constructor":{"prototype":{"title":"x"}}}', '{"title":"a","title":"b"}', '{"tasks":{"length":1,"0":"x"}}', '{"":""}'),
);

export const RAW_BODIES = ['', '{', '{"title":', 'null', '[]', '"x"', '1', '{"a":1}{"b":2}', '{"title":"x",}', '\uFEFF{"title":"x"}', 'title=x', '<x/>', '\u0000', '{"title":"\\u0000"}', '{"title":"\\ud800"}'];
export const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/merge-patch+json',
  'text/plain',
  'text/json',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'garbage',
];
export const RAW_QUERY_PARTS = ['%', '%zz', '%E0%A4%A', '%00', '%C0%AF', '+', '%2B', '&&', '=', '==', 'a=1=2', '[]=x', 'a[b]=c', '%FF%FE', ';', '%26', '%ED%A0%80'];
/** Well-formed UUIDs no generator makes: nil, max, versions 0 and 15, odd variants. */
export const EDGE_UUIDS = [
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
  '12345678-1234-0234-1234-123456789abc',
  '12345678-1234-f234-e234-123456789abc',
];
export const RAW_IDS = ['%', '%zz', '%E0%A4%A', '%00', '%2F', '%ED%A0%80', 'null', '0', '-1', ...EDGE_UUIDS, ' ', '%20', 'x'.repeat(3000)];
export const headerValue = fc.string({ unit: fc.constantFrom(...'abcXYZ019-_.~!"*/ \t:;,=é'.split('')), maxLength: 40 });
export const extraHeaders = fc.record(
  {
    'idempotency-key': fc.oneof(headerValue, fc.uuid().map(String), fc.constantFrom('k'.repeat(256), 'k'.repeat(255))),
    'if-match': fc.oneof(headerValue, fc.constantFrom('*', '"1"', 'W/"1"', '"0"', '"999999999"', '"99999999999"', '1', '"-1"', '""')),
    'x-correlation-id': headerValue,
  },
  { requiredKeys: [] },
);
