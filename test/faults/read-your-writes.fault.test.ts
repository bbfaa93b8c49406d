import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOk, registerUsers, type User } from './support/client.js';
import { runWriteReadPairs, type PairResult } from './support/pairs.js';
import { durations, printReport } from './support/report.js';
import { reportAndAssert, settleAndCheck, startFaultRun, type FaultRun } from './support/scenario.js';
import { canStartRedis, NO_REDIS_SERVER } from './support/services.js';
import type { WriteRecord } from './support/writers.js';

const PAIRS = 1000;
const USERS = 4;
const hasRedis = canStartRedis();
if (!hasRedis) console.log(`read-your-writes proof with Redis ${NO_REDIS_SERVER}`);

const tally = (results: readonly PairResult[], test: (r: PairResult) => boolean) => {
  const by = (key: (r: PairResult) => string) => {
    const counts: Record<string, number> = {};
    for (const r of results.filter(test)) counts[key(r)] = (counts[key(r)] ?? 0) + 1;
    return Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  };
  return `${results.filter(test).length} (${by((r) => `${r.read} after ${r.write}`)})`;
};

/**
 * Issue 11, "Done when" 1: two API instances behind the round-robin proxy, the projector in a
 * third process; 1,000 reads by id and 1,000 list reads, each at once after a write through the
 * other instance, without and with the Consistency-Token; PostgreSQL only, then with Redis.
 */
for (const setup of [{ name: 'PostgreSQL only', redis: false }, { name: 'with Redis', redis: true }] as const) {
  const skip = setup.redis && !hasRedis;
  describe.skipIf(skip)(`read-your-writes across instances, ${setup.name}${skip ? ` (${NO_REDIS_SERVER})` : ''}`, () => {
    let run: FaultRun;
    const records: WriteRecord[] = [];
    const users: User[] = [];
    beforeAll(async () => {
      run = await startFaultRun({ redis: setup.redis, users: 0 });
    });
    afterAll(async () => run?.close());

    for (const sendToken of [false, true])
      it(`${PAIRS} reads by id and ${PAIRS} list reads through the other instance ${sendToken ? 'sending the Consistency-Token back' : 'without any header'}: 0 stale`, async () => {
        const fresh = await registerUsers(run.recorder, run.topology.proxy.url, USERS);
        users.push(...fresh);
        const from = run.recorder.samples.length;
        const { results, records: written, tokens } = await runWriteReadPairs({ recorder: run.recorder, base: run.topology.proxy.url, users: fresh, pairs: PAIRS, sendToken });
        records.push(...written);
        const samples = run.recorder.samples.slice(from);
        const stale = results.filter((r) => r.stale);
        const failed = results.filter((r) => r.failed);
        const writeFailures = written.filter((w) => !isOk(w.status));
        printReport(
          `read-your-writes, ${setup.name}, ${sendToken ? 'Consistency-Token sent back' : 'no header'}`,
          [
            ['pairs', `${results.length} (${results.filter((r) => r.read === 'get').length} by id, ${results.filter((r) => r.read === 'list').length} by list) by ${USERS} users`],
            ['stale reads', tally(results, (r) => r.stale)],
            ['failed reads', tally(results, (r) => r.failed)],
            ['read on the writing instance', String(results.filter((r) => r.sameInstance).length)],
            ['writes failed', String(writeFailures.length)],
            ['writes with a Consistency-Token', `${tokens} of ${written.length - writeFailures.length}`],
            ['write durations', durations(samples.filter((s) => s.kind === 'write').map((s) => s.ms))],
            ['read durations', durations(samples.filter((s) => s.kind === 'read').map((s) => s.ms))],
          ],
          { stale: stale.map((r) => r.detail), failed: failed.map((r) => r.detail) },
        );
        expect.soft(stale.length, 'stale reads').toBe(0);
        expect.soft(failed.length, 'reads that failed').toBe(0);
        expect.soft(results.filter((r) => r.sameInstance).length, 'pairs read on the instance that took the write').toBe(0);
        expect.soft(writeFailures.length, 'writes that failed').toBe(0);
      }, 120_000);

    it('afterwards: nothing lost or doubled, every instance agrees with the log, audit verify clean', async () => {
      const outcome = await settleAndCheck(run, records, users);
      reportAndAssert(`read-your-writes, ${setup.name}: settled`, outcome);
    }, 60_000);
  });
}
