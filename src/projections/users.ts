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

/** The table a users projection writes: the live one, or a rebuild's shadow copy. */
export type UsersTables = Readonly<{ users: string }>;

/** Registrations in one insert, then each user's last role change of the batch in one update. */
const applyUserEvents = async (tables: UsersTables, trx: Knex.Transaction, events: readonly RecordedEvent[]) => {
  const registered: UserRow[] = [];
  const lastRole = new Map<string, { id: string; role: Role; updated_at: string }>();
  for (const recorded of events) {
    const event = recorded as unknown as UserRegistered | UserRoleChanged;
    const at = recorded.metadata.occurredAt;
    switch (event.type) {
      case 'UserRegistered': {
        const { userId, email, name } = event.data;
        registered.push({ id: userId, email, name, role: 'user', version: recorded.streamVersion, created_at: at, updated_at: at });
        break;
      }
      case 'UserRoleChanged':
        lastRole.delete(event.data.userId);
        lastRole.set(event.data.userId, { id: event.data.userId, role: event.data.to, updated_at: at });
        break;
      default: {
        const unexpected: never = event;
        throw new Error(`Unknown user event ${(unexpected as RecordedEvent).type}`);
      }
    }
  }
  if (registered.length) await trx(tables.users).insert(registered).onConflict('id').ignore();
  if (lastRole.size)
    await trx.raw(
      `UPDATE ?? AS u SET role = c.role, updated_at = c.updated_at
       FROM jsonb_to_recordset(?::jsonb) AS c(id uuid, role text, updated_at timestamptz) WHERE u.id = c.id`,
      [tables.users, JSON.stringify([...lastRole.values()])],
    );
};

/** The users read model over the given table (a rebuild writes a shadow copy of the live one). */
export const usersProjectionFor = (tables: UsersTables): Projection => ({
  name: 'users',
  tables: [tables.users],
  handles: new Set<string>(USER_EVENT_TYPES),
  apply: (trx, events) => applyUserEvents(tables, trx, events),
});

export const usersProjection: Projection = usersProjectionFor({ users: USERS_TABLE });
