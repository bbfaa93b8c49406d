import type { Knex } from 'knex';
import type { Role } from '../domain/actor.js';
import type { RecordedEvent } from '../domain/event.js';
import { USER_EVENT_TYPES, type UserRegistered, type UserRoleChanged } from '../domain/user/events.js';
import type { Projection } from './projection.js';

export const USERS_TABLE = 'users';

export type UserRow = {
  id: string;
  email: string;
  name: string;
  role: Role;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
};

const applyUserEvent = async (trx: Knex.Transaction, recorded: RecordedEvent) => {
  const event = recorded as unknown as UserRegistered | UserRoleChanged;
  const at = recorded.metadata.occurredAt;
  switch (event.type) {
    case 'UserRegistered': {
      const { userId, email, name } = event.data;
      await trx(USERS_TABLE)
        .insert({ id: userId, email, name, role: 'user', version: recorded.streamVersion, created_at: at, updated_at: at })
        .onConflict('id')
        .ignore();
      return;
    }
    case 'UserRoleChanged':
      await trx(USERS_TABLE).where('id', event.data.userId).update({ role: event.data.to, updated_at: at });
      return;
    default: {
      const unexpected: never = event;
      throw new Error(`Unknown user event ${(unexpected as RecordedEvent).type}`);
    }
  }
};

export const usersProjection: Projection = {
  name: 'users',
  tables: [USERS_TABLE],
  handles: new Set<string>(USER_EVENT_TYPES),
  apply: async (trx, events) => {
    for (const event of events) await applyUserEvent(trx, event);
  },
};
