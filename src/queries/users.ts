import type { Knex } from 'knex';
import type { Role } from '../domain/actor.js';
import { USERS_TABLE, type UserRow } from '../projections/users.js';
import { pageOf, type Page } from './tasks.js';

export type UserView = Readonly<{ id: string; email: string; name: string; role: Role; createdAt: string; updatedAt: string }>;

export const rowToUserView = (row: UserRow): UserView => ({
  id: row.id,
  email: row.email,
  name: row.name,
  role: row.role,
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
});

export const getUser = async (knex: Knex, id: string): Promise<UserView | null> => {
  const row = await knex<UserRow>(USERS_TABLE).where({ id }).first();
  return row ? rowToUserView(row) : null;
};

export const listUsers = async (knex: Knex, { page, limit }: { page: number; limit: number }): Promise<Page<UserView>> => {
  const [rows, [{ count }]] = await Promise.all([
    knex<UserRow>(USERS_TABLE).select('*').orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit).offset((page - 1) * limit),
    knex(USERS_TABLE).count<{ count: string }[]>({ count: '*' }),
  ]);
  const total = Number(count);
  return pageOf((rows as UserRow[]).map(rowToUserView), total, page, limit);
};
