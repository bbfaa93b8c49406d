import Table from 'cli-table3';
import type { Task } from '../domain/task/state.js';
import type { AuditEntry, FieldChange } from '../operations/audit.js';
import type { BucketDifference, CountComparison } from '../projections/completeness.js';
import { describeFinding } from '../operations/completeness.js';
import type { EventRef, ParkedStatus, ProjectionStatus } from '../operations/status.js';
import type { Difference, VerifyReport } from '../operations/verify.js';

// How operator commands print for people; with --json they print the objects themselves.

/** Left-aligned columns separated by two spaces, the header in capitals. */
export const columns = (header: readonly string[], rows: readonly (readonly string[])[]) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header.map((h) => h.toUpperCase()), ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
};

export const show = (value: unknown) => (value === null || value === undefined ? 'null' : typeof value === 'string' ? JSON.stringify(value) : String(value));

const eventLabel = (e: EventRef) => `event ${e.eventId} (${e.streamId} v${e.streamVersion}, ${e.type}, at ${e.position})`;
const bucketsLabel = (buckets: readonly BucketDifference[]) =>
  buckets.slice(0, 3).map((b) => `positions ${b.positions}: log ${b.logged}, consumed ${b.consumed}`).join('; ') + (buckets.length > 3 ? '; …' : '');
const completeColumn = (c: Pick<CountComparison, 'missing' | 'doubled'> | null) =>
  !c ? '-' : c.missing ? `missing ${c.missing}` : c.doubled ? `${c.doubled} twice` : 'yes';
export const formatParked = (p: ParkedStatus) => `parked ${eventLabel(p)} by ${p.operator} at ${p.at}: ${p.reason}`;

const statusNotes = (s: ProjectionStatus) => [
  ...(s.failure
    ? [
        `${s.name}: FAILED on ${eventLabel(s.failure)} after ${s.failure.attempts} tries at ${s.failure.failedAt}: ${s.failure.error}`,
        `  once fixed: taskflow projections retry ${s.name}`,
        `  or skip it: taskflow projections park ${s.name} --event ${s.failure.eventId} --reason "…"`,
      ]
    : []),
  ...(s.state === 'retrying' ? [`${s.name}: retrying by itself, last error at ${s.lastErrorAt}: ${s.lastError}`] : []),
  ...(s.completeness?.problem ? [`${s.name}: ${s.completeness.problem} (${bucketsLabel(s.completeness.buckets)})`] : []),
  ...s.parked.map((p) => `${s.name}: ${formatParked(p)}`),
  ...(s.rebuild
    ? [
        `${s.name}: rebuild at ${s.rebuild.checkpoint}, ${s.rebuild.lagEvents} events to go, ` +
          (s.rebuild.running ? `running on ${s.rebuild.holder}` : `interrupted: run \`taskflow projections rebuild ${s.name}\` to resume`),
      ]
    : []),
];

export const formatStatus = (statuses: readonly ProjectionStatus[]) => {
  const table = columns(
    ['projection', 'state', 'checkpoint', 'lag (events)', 'lag (s)', 'owner', 'complete'],
    statuses.map((s) => [s.name, s.state, s.checkpoint ?? '-', String(s.lagEvents), s.lagSeconds.toFixed(1), s.owner ?? '-', completeColumn(s.completeness)]),
  );
  const notes = statuses.flatMap(statusNotes);
  return [table, ...(notes.length ? ['', ...notes] : [])].join('\n');
};

const TASK_KEYS: readonly (keyof Task)[] = ['id', 'title', 'description', 'status', 'priority', 'dueDate', 'userId', 'isOverdue', 'version', 'createdAt', 'updatedAt'];

/** The task's fields in the order the API documents them. */
export const orderedTask = (task: Task) => Object.fromEntries(TASK_KEYS.map((key) => [key, task[key]]));

export const formatTask = (task: Task) => {
  const width = Math.max(...TASK_KEYS.map((k) => k.length)) + 1;
  return TASK_KEYS.map((key) => `${`${key}:`.padEnd(width)} ${task[key] === null ? '(none)' : String(task[key])}`).join('\n');
};

const formatChange = (change: FieldChange, created: boolean) =>
  created ? `${change.field}: ${show(change.after)}` : `${change.field}: ${show(change.before)} → ${show(change.after)}`;

export const formatHistory = (entries: readonly AuditEntry[]) => {
  const table = new Table({ head: ['version', 'time', 'actor', 'event', 'changes'], style: { head: [], border: [] }, wordWrap: true, colWidths: [null, null, null, null, 60] as never });
  for (const e of entries)
    table.push([
      String(e.version),
      e.occurredAt,
      e.actor.email ? `${e.actor.email}\n${e.actor.id}` : e.actor.id,
      e.type,
      e.changes.map((c) => formatChange(c, e.type === 'TaskCreated')).join('\n') || '(no field changed)',
    ]);
  return table.toString();
};

const formatDifference = (d: Difference) =>
  d.kind === 'missing'
    ? `${d.table} ${d.id}: missing row (the log has it)`
    : d.kind === 'extra'
      ? `${d.table} ${d.id}: extra row (not in the log)`
      : `${d.table} ${d.id}: ${d.field} expected ${show(d.expected)}, actual ${show(d.actual)}`;

export const formatVerify = (reports: readonly VerifyReport[]) =>
  reports
    .flatMap((r) => [
      `${r.projection}: ${Object.entries(r.rows).map(([table, n]) => `${table} (${n} row${n === 1 ? '' : 's'})`).join(' and ')} checked against ${r.events} events up to checkpoint ${r.checkpoint}: ` +
        (r.differenceCount ? `${r.differenceCount} difference${r.differenceCount === 1 ? '' : 's'}` : 'no differences') +
        (r.parked.length ? `, ${r.parked.length} parked event${r.parked.length === 1 ? '' : 's'} left out` : ''),
      ...r.differences.map((d) => `  ${formatDifference(d)}`),
      ...(r.differenceCount > r.differences.length ? [`  … and ${r.differenceCount - r.differences.length} more`] : []),
      ...(r.completeness.buckets.length ? [`  counts: ${describeFinding(r.completeness, false)} (${bucketsLabel(r.completeness.buckets)})`] : []),
      ...r.parked.map((p) => `  ${formatParked(p)}`),
    ])
    .join('\n');
