import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogPosition } from '../../src/domain/event.js';
import type { WritePositions } from '../../src/infra/positions/positions.js';

export type WritePositionsFixture = Readonly<{ positions: WritePositions; dispose: () => Promise<void> }>;

const at = (tx: number, pos: number): LogPosition => ({ tx: BigInt(tx), pos: BigInt(pos) });

/** The behaviour every WritePositions adapter must have. */
export const writePositionsContract = (name: string, setup: () => Promise<WritePositionsFixture>) =>
  describe(`WritePositions contract: ${name}`, () => {
    let fixture: WritePositionsFixture;
    let positions: WritePositions;
    beforeAll(async () => {
      fixture = await setup();
      positions = fixture.positions;
    });
    afterAll(() => fixture?.dispose());

    it('knows nothing of a user who never wrote', async () => {
      expect(await positions.lookup(randomUUID())).toBeNull();
    });

    it('keeps the highest position, whatever order the writes finish in', async () => {
      const user = randomUUID();
      await positions.note(user, at(10, 5));
      await positions.note(user, at(9, 99)); // an older transaction that finished later
      expect(await positions.lookup(user)).toEqual(at(10, 5));
      await positions.note(user, at(10, 6));
      expect(await positions.lookup(user)).toEqual(at(10, 6));
    });

    it('keeps the highest of many concurrent notes of one user, and each user its own', async () => {
      const [one, two] = [randomUUID(), randomUUID()];
      const notes = Array.from({ length: 50 }, (_, i) => at(1000 + ((i * 37) % 50), i));
      await Promise.all(notes.flatMap((p) => [positions.note(one, p), positions.note(two, at(Number(p.tx) - 500, 0))]));
      expect(await positions.lookup(one)).toEqual(at(1049, notes.findIndex((p) => p.tx === 1049n)));
      expect(await positions.lookup(two)).toEqual(at(549, 0));
    });

    it('lists who wrote recently', async () => {
      const user = randomUUID();
      await positions.note(user, at(77, 7));
      expect((await positions.recent(60)).get(user)).toEqual(at(77, 7));
    });
  });
