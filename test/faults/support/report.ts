import type { Sample } from './client.js';

/** No answer may take longer than this, whatever broke. */
export const MAX_ANSWER_MS = 10_000;

export const percentile = (values: readonly number[], p: number) => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

const count = <T>(items: readonly T[], key: (item: T) => string) => {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
};

/** The figures of a set of exchanges: statuses, 5xx by code, answers that break the rules, durations. */
export const summarize = (samples: readonly Sample[]) => {
  const answered = samples.filter((s) => s.status !== 0);
  return {
    requests: samples.length,
    writes: samples.filter((s) => s.kind === 'write').length,
    reads: samples.filter((s) => s.kind === 'read').length,
    byStatus: count(samples, (s) => String(s.status)),
    writeStatus: count(samples.filter((s) => s.kind === 'write'), (s) => String(s.status)),
    readStatus: count(samples.filter((s) => s.kind === 'read'), (s) => String(s.status)),
    serverErrors: count(samples.filter((s) => s.status >= 500), (s) => `${s.status} ${s.code ?? '(no code)'}`),
    noAnswer: count(samples.filter((s) => s.status === 0), (s) => s.error ?? 'unknown'),
    notProblem: answered.filter((s) => s.status >= 400 && !s.problem),
    slow: samples.filter((s) => s.ms > MAX_ANSWER_MS),
    p50: percentile(samples.map((s) => s.ms), 50),
    p99: percentile(samples.map((s) => s.ms), 99),
    max: percentile(samples.map((s) => s.ms), 100),
  };
};
export type Summary = ReturnType<typeof summarize>;

const ms = (n: number) => `${Math.round(n)} ms`;
const counts = (c: Record<string, number>) =>
  Object.keys(c).length ? Object.entries(c).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}: ${v}`).join(', ') : 'none';

export const durations = (values: readonly number[]) =>
  values.length ? `p50 ${ms(percentile(values, 50))}, p99 ${ms(percentile(values, 99))}, max ${ms(percentile(values, 100))} (n=${values.length})` : 'none';

/** The standard lines of a summary; scenarios add their own. */
export const summaryLines = (s: Summary): [string, string][] => [
  ['requests', `${s.requests} (writes ${s.writes}, reads ${s.reads})`],
  ['responses', counts(s.byStatus)],
  ['  to writes', counts(s.writeStatus)],
  ['  to reads', counts(s.readStatus)],
  ['5xx by code', counts(s.serverErrors)],
  ['no answer', counts(s.noAnswer)],
  ['non-2xx not problem+json', String(s.notProblem.length)],
  [`over ${MAX_ANSWER_MS / 1000} s`, String(s.slow.length)],
  ['durations', `p50 ${ms(s.p50)}, p99 ${ms(s.p99)}, max ${ms(s.max)}`],
];

/** Prints one readable block of figures, and up to a few examples of each kind of failure. */
export const printReport = (title: string, lines: readonly [string, string][], examples: Record<string, readonly string[]> = {}) => {
  const width = Math.max(...lines.map(([label]) => label.length));
  const out = [`\n=== fault scenario: ${title} ===`, ...lines.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)];
  for (const [what, items] of Object.entries(examples))
    if (items.length) out.push(`  ${what} (${items.length}), e.g.:`, ...items.slice(0, 5).map((i) => `    - ${i}`));
  console.log(out.join('\n'));
};
