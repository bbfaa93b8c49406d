import type { Role } from '../actor.js';
import type { Stamped } from '../event.js';
import type { UserEmailClaimed, UserEvent } from './events.js';

export type User = Readonly<{
  id: string;
  email: string;
  name: string;
  role: Role;
  passwordHash: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}>;

export type UserState = Readonly<{ kind: 'missing' }> | Readonly<{ kind: 'registered'; user: User }>;

export const initialState = (): UserState => ({ kind: 'missing' });

export const evolve = (state: UserState, event: Stamped<UserEvent>): UserState => {
  switch (event.type) {
    case 'UserRegistered': {
      const { userId, ...rest } = event.data;
      return {
        kind: 'registered',
        user: { id: userId, ...rest, version: 1, createdAt: event.occurredAt, updatedAt: event.occurredAt },
      };
    }
    case 'UserRoleChanged':
      if (state.kind !== 'registered') return state;
      return {
        kind: 'registered',
        user: { ...state.user, role: event.data.to, version: state.user.version + 1, updatedAt: event.occurredAt },
      };
    default: {
      const unexpected: never = event;
      throw new Error(`Unknown user event ${(unexpected as UserEvent).type}`);
    }
  }
};

/** Who holds an e-mail address: the user of the latest claim. */
export type EmailClaimState = Readonly<{ userId: string | null }>;

export const initialEmailClaim = (): EmailClaimState => ({ userId: null });

export const evolveEmailClaim = (_: EmailClaimState, event: Stamped<UserEmailClaimed>): EmailClaimState => ({
  userId: event.data.userId,
});
