import type { Redis } from 'ioredis';

// Sets each key to the value unless it already holds a greater one (values compare as text:
// positions are zero-padded, see positionKey), and renews its expiry either way.
const RAISE_TO = `
for _, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if (not current) or current < ARGV[1] then
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
  else
    redis.call('EXPIRE', key, ARGV[2])
  end
end
return #KEYS`;

type WithRaiseTo = Redis & { taskflowRaiseTo: (keyCount: number, ...args: (string | number)[]) => Promise<number> };

/**
 * `raiseTo(keys, value, ttlSeconds)`: one round trip that never moves a key back, whatever order
 * concurrent writers finish in.
 */
export const defineRaiseTo = (redis: Redis) => {
  if (!('taskflowRaiseTo' in redis)) redis.defineCommand('taskflowRaiseTo', { lua: RAISE_TO });
  return async (keys: readonly string[], value: string, ttlSeconds: number) => {
    if (keys.length) await (redis as WithRaiseTo).taskflowRaiseTo(keys.length, ...keys, value, ttlSeconds);
  };
};
