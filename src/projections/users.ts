import type { Role } from '../domain/actor.js';
import type { RecordedEvent } from '../domain/event.js';
import { USER_EVENT_TYPES, type UserRegistered, type UserRoleChanged } from '../domain/user/events.js';
import { WHEN_CHECKPOINT_MOVED, type BatchWrite, type Projection, type Statement } from './projection.js';

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

/**
 * Registrations in one insert, and each other user's last role change of the batch in one update
 * (a user registered in this batch gets the role in its inserted row: the two parts of the write
 * do not see each other's changes).
 */
const prepareUserEvents = (tables: UsersTables, events: readonly RecordedEvent[]): BatchWrite => {
  const registered = new Map<string, UserRow>();
  const lastRole = new Map<string, { id: string; role: Role; updated_at: string }>();
  for (const recorded of events) {
    const event = recorded as unknown as UserRegistered | UserRoleChanged;
    const at = recorded.metadata.occurredAt;
    switch (event.type) {
      case 'UserRegistered': {
        const { userId, email, name } = event.data;
        registered.set(userId, { id: userId, email, name, role: 'user', version: recorded.streamVersion, created_at: at, updated_at: at });
        break;
      }
      case 'UserRoleChanged': {
        const { userId, to } = event.data;
        const row = registered.get(userId);
        if (row) registered.set(userId, { ...row, role: to, updated_at: at });
        else lastRole.set(userId, { id: userId, role: to, updated_at: at });
        break;
      }
      default: {
        const unexpected: never = event;
        throw new Error(`Unknown user event ${(unexpected as RecordedEvent).type}`);
      }
    }
  }
  const statements: Statement[] = [];
  if (registered.size)
    statements.push({
      sql: `INSERT INTO ?? SELECT * FROM json_populate_recordset(NULL::??, ?::json) WHERE ${WHEN_CHECKPOINT_MOVED} ON CONFLICT (id) DO NOTHING`,
      bindings: [tables.users, tables.users, JSON.stringify([...registered.values()])],
    });
  if (lastRole.size)
    statements.push({
      sql: `UPDATE ?? AS u SET role = c.role, updated_at = c.updated_at
        FROM json_to_recordset(?::json) AS c(id uuid, role text, updated_at timestamptz) WHERE u.id = c.id AND ${WHEN_CHECKPOINT_MOVED}`,
      bindings: [tables.users, JSON.stringify([...lastRole.values()])],
    });
  return { statements, scopes: [] };
};

/** The users read model over the given table (a rebuild writes a shadow copy of the live one). */
export const usersProjectionFor = (tables: UsersTables): Projection => ({
  name: 'users',
  tables: [tables.users],
  handles: new Set<string>(USER_EVENT_TYPES),
  prepare: async (_knex, events) => prepareUserEvents(tables, events),
});

