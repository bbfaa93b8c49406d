import type { UserCommands } from './commands/users.js';
import { SYSTEM, type Role } from './domain/actor.js';
import type { Logger } from './infra/logger.js';

export const DEMO_USERS: readonly { email: string; name: string; password: string; role: Role }[] = [
  { email: 'admin@example.com', name: 'Demo Admin', password: 'admin123', role: 'admin' },
  { email: 'user@example.com', name: 'Demo User', password: 'user123', role: 'user' },
];

/** Registers the demo users that do not exist yet; running it again changes nothing. */
export const seedDemoUsers = async (users: UserCommands, logger: Logger, now: () => Date = () => new Date()) => {
  const created: string[] = [];
  for (const demo of DEMO_USERS) {
    let userId: string;
    try {
      const result = await users.register(demo, { now: now().toISOString(), correlationId: 'seed', bySystem: true });
      if (result.state.kind !== 'registered') continue;
      userId = result.state.user.id;
      created.push(demo.email);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EMAIL_TAKEN') throw error;
      continue;
    }
    if (demo.role !== 'user')
      await users.changeRole(userId, demo.role, { context: { now: now().toISOString(), actor: SYSTEM }, correlationId: 'seed' });
  }
  if (created.length) logger.info('seeded demo users', { users: created });
  return created;
};
