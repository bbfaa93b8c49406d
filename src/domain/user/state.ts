import type { Role } from '../actor.js';
import type { Stamped } from '../event.js';
import type { RoleEvent, UserEmailClaimed, UserEvent } from './events.js';

export type User = Readonly<{
  id: string;
  email: string;
  name: string;
  passwordHash: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}>;

export type UserState = Readonly<{ kind: 'missing' }> | Readonly<{ kind: 'registered'; user: User }>;

export const initialState = (): UserState => ({ kind: 'missing' });

// A user stream holds only its registration; role changes live in the roster stream.
export const evolve = (_state: UserState, event: Stamped<UserEvent>): UserState => {
  switch (event.type) {
    case 'UserRegistered': {
      const { userId, ...rest } = event.data;
      return { kind: 'registered', user: { id: userId, ...rest, version: 1, createdAt: event.occurredAt, updatedAt: event.occurredAt } };
    }
    default: {
      const unexpected: never = event.type;
      throw new Error(`Unknown user event ${unexpected}`);
    }
  }
};

/** Who holds which role; a user who is not listed has the role `user`. */
export type RosterState = Readonly<{ roles: ReadonlyMap<string, Role> }>;

export const initialRoster = (): RosterState => ({ roles: new Map() });

export const evolveRoster = (state: RosterState, event: Stamped<RoleEvent>): RosterState => {
  const roles = new Map(state.roles);
  if (event.data.to === 'user') roles.delete(event.data.userId);
  else roles.set(event.data.userId, event.data.to);
  return { roles };
};

export const roleOf = (roster: RosterState, userId: string): Role => roster.roles.get(userId) ?? 'user';

export const adminCount = (roster: RosterState): number => [...roster.roles.values()].filter((r) => r === 'admin').length;

/** Who holds an e-mail address: the user of the latest claim. */
export type EmailClaimState = Readonly<{ userId: string | null }>;

export const initialEmailClaim = (): EmailClaimState => ({ userId: null });

export const evolveEmailClaim = (_: EmailClaimState, event: Stamped<UserEmailClaimed>): EmailClaimState => ({
  userId: event.data.userId,
});
