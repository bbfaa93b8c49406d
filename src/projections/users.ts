import type { Knex } from 'knex';
import type { Role } from '../domain/actor.js';
import type { RecordedEvent } from '../domain/event.js';
import { USER_EVENT_TYPES, type UserEvent } from '../domain/user/events.js';
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
  const event = recorded as unknown as UserEvent;
  const at = recorded.metadata.occurredAt;
  switch (event.type) {
    case 'UserRegistered': {
      const { userId, email, name, role } = event.data;
      await trx(USERS_TABLE)
        .insert({ id: userId, email, name, role, version: recorded.streamVersion, created_at: at, updated_at: at })
        .onConflict('id')
        .ignore();
      return;
    }
    case 'UserRoleChanged':
      await trx(USERS_TABLE)
        .where('id', recorded.streamId.slice('user-'.length))
        .andWhere('version', '<', recorded.streamVersion)
        .update({ role: event.data.to, version: recorded.streamVersion, updated_at: at });
      return;
    default: {
      const unexpected: never = event;
      throw new Error(`Unknown user event ${(unexpected as UserEvent).type}`);
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
