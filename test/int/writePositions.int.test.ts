import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresWritePositions } from '../../src/infra/positions/postgres.js';
import { createRedisWritePositions } from '../../src/infra/positions/redis.js';
import { createTestDatabase } from '../support/database.js';
import { connectTestRedis, freePort, NO_REDIS_REASON, readyRedis, redisForTests } from '../support/redis.js';
import { writePositionsContract } from './writePositions.contract.js';

const redis = await redisForTests();
if (!redis) console.log(`[Redis write positions] ${NO_REDIS_REASON}`);
afterAll(() => redis?.stop());

writePositionsContract('PostgreSQL', async () => {
  const db = await createTestDatabase();
  return { positions: createPostgresWritePositions(db.knex), dispose: db.drop };
});

if (!redis)
  describe.skip(`WritePositions contract: Redis (${NO_REDIS_REASON})`, () => {
    it('runs the write-positions contract against Redis', () => undefined);
  });
else
  writePositionsContract('Redis in front of PostgreSQL', async () => {
    const db = await createTestDatabase();
    const client = await readyRedis(redis.url);
    return {
      positions: createRedisWritePositions(client, createPostgresWritePositions(db.knex), { namespace: `test-${randomUUID()}` }),
      dispose: async () => {
        client.disconnect();
        await db.drop();
      },
    };
  });

describe('Redis write positions while Redis is away', () => {
  it('notes and looks up through PostgreSQL alone', async () => {
    const db = await createTestDatabase();
    const client = connectTestRedis(`redis://127.0.0.1:${await freePort()}`);
    try {
      const positions = createRedisWritePositions(client, createPostgresWritePositions(db.knex));
      const user = randomUUID();
      await positions.note(user, { tx: 5n, pos: 6n });
      expect(await positions.lookup(user)).toEqual({ tx: 5n, pos: 6n });
    } finally {
      client.disconnect();
      await db.drop();
    }
  });
});
