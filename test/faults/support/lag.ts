import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { versionOf, type Recorder, type User } from './client.js';
import type { WriteRecord } from './writers.js';

/** An acknowledged write and when another user first saw it in a list. */
export type Sighting = { readonly id: string; readonly version: number; readonly ackAt: number; seenAt: number | null };

const LIVE_TASKS = 20;

/**
 * Projection lag as a user feels it: one writer creates (up to 20 tasks) and PATCHes, reading
 * its own list and task after each write; an observer (an admin) polls the writer's list and notes when
 * each acknowledged version first shows. The writer's tasks all fit on the observer's one page.
 */
export const startLagProbe = (options: { recorder: Recorder; base: string; writer: User; observer: User; writeEveryMs?: number }) => {
  const { recorder, base, writer, observer } = options;
  const run = randomBytes(3).toString('hex');
  const sightings: Sighting[] = [];
  const records: WriteRecord[] = [];
  let stopping = false;
  let abandoned = false;
  const reading: Promise<unknown>[] = [];

  const writing = (async () => {
    const ids: string[] = [];
    for (let seq = 0; !stopping; seq++) {
      const cid = `fl-${run}-${seq}`;
      const create = ids.length < LIVE_TASKS;
      const id = create ? null : ids[seq % ids.length]!;
      const record: WriteRecord = { cid, kind: create ? 'create' : 'patch', userId: writer.id, key: null, attempts: 1, status: 0, gaveUp: false, taskId: id, version: null, results: null };
      records.push(record);
      const a = await recorder.send(base, {
        method: create ? 'POST' : 'PATCH',
        path: create ? '/tasks' : `/tasks/${id}`,
        token: writer.token,
        body: { title: `${cid} lag probe` },
        headers: { 'x-correlation-id': cid },
        op: create ? 'create' : 'patch',
      });
      record.status = a.status;
      if (a.status === 200 || a.status === 201) {
        record.taskId = a.body.id;
        record.version = versionOf(a);
        if (create) ids.push(a.body.id);
        sightings.push({ id: a.body.id, version: record.version!, ackAt: a.sample.doneAt, seenAt: null });
      }
      // Two own reads per write: with the proxy's turns per client, they land on both instances.
      // Not awaited, so that a read kept waiting does not slow the writes down.
      reading.push(recorder.send(base, { path: '/tasks?limit=10&sortBy=updatedAt', token: writer.token, op: 'own list' }));
      if (record.taskId) reading.push(recorder.send(base, { path: `/tasks/${record.taskId}`, token: writer.token, op: 'own task' }));
      await sleep(options.writeEveryMs ?? 100);
    }
  })();

  const observing = (async () => {
    while (!abandoned && (!stopping || sightings.some((s) => s.seenAt === null))) {
      const a = await recorder.send(base, { path: `/tasks?userId=${writer.id}&limit=100`, token: observer.token, op: 'observer list' });
      if (a.status === 200)
        for (const task of a.body.data as { id: string; version: number }[])
          for (const s of sightings) if (s.seenAt === null && s.id === task.id && s.version <= task.version) s.seenAt = a.sample.doneAt;
      await sleep(20);
    }
  })();

  return {
    sightings,
    records,
    /** Stops writing, then waits (bounded) for the observer to see the last writes. */
    stop: async (timeoutMs = 60_000) => {
      stopping = true;
      await writing;
      await Promise.all(reading);
      await Promise.race([observing, sleep(timeoutMs)]);
      abandoned = true;
      await observing;
    },
  };
};

/** Lags (ms) of the writes acknowledged in [from, to); a write never seen counts as lagging until `now`. */
export const lagsBetween = (sightings: readonly Sighting[], from: number, to: number, now: number) =>
  sightings.filter((s) => s.ackAt >= from && s.ackAt < to).map((s) => Math.max(0, (s.seenAt ?? now) - s.ackAt));
