import { isPrivileged, type CommandContext, type Role } from '../actor.js';
import { ConflictError, ForbiddenError, NotFoundError } from '../errors.js';
import { normalizeEmail, type UserEmailClaimed, type UserEvent } from './events.js';
import type { EmailClaimState, UserState } from './state.js';

export type UserCommand =
  | { type: 'RegisterUser'; data: { userId: string; email: string; name: string; passwordHash: string; role: Role } }
  | { type: 'ChangeUserRole'; data: { role: Role } };

const emailTaken = () => new ConflictError('A user with this email already exists', 'EMAIL_TAKEN');

export const decide = (command: UserCommand, state: UserState, { actor }: CommandContext): UserEvent[] => {
  switch (command.type) {
    case 'RegisterUser':
      if (state.kind !== 'missing') throw emailTaken();
      if (command.data.role === 'admin' && !isPrivileged(actor))
        throw new ForbiddenError('Only an admin can create an admin', 'ROLE_FORBIDDEN');
      return [{ type: 'UserRegistered', data: { ...command.data, email: normalizeEmail(command.data.email) } }];
    case 'ChangeUserRole':
      if (!isPrivileged(actor)) throw new ForbiddenError('Only an admin can change roles', 'ROLE_FORBIDDEN');
      if (state.kind !== 'registered') throw new NotFoundError('User not found', 'USER_NOT_FOUND');
      return state.user.role === command.data.role
        ? []
        : [{ type: 'UserRoleChanged', data: { from: state.user.role, to: command.data.role } }];
    default: {
      const unexpected: never = command;
      throw new Error(`Unknown user command ${(unexpected as UserCommand).type}`);
    }
  }
};

/**
 * Claims an e-mail address for a user. Claiming again for the same user id is a no-op, which is
 * how a registration interrupted between the claim and the UserRegistered append is resumed.
 */
export const decideEmailClaim = (claim: EmailClaimState, { email, userId }: { email: string; userId: string }): UserEmailClaimed[] => {
  if (claim.userId === null) return [{ type: 'UserEmailClaimed', data: { email: normalizeEmail(email), userId } }];
  if (claim.userId !== userId) throw emailTaken();
  return [];
};
