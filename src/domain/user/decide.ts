import type { CommandContext, Role } from '../actor.js';
import { ConflictError, ForbiddenError } from '../errors.js';
import { normalizeEmail, type RoleEvent, type UserEmailClaimed, type UserEvent } from './events.js';
import { adminCount, roleOf, type EmailClaimState, type RosterState, type UserState } from './state.js';

export type RegisterUser = { type: 'RegisterUser'; data: { userId: string; email: string; name: string; passwordHash: string } };
export type ChangeUserRole = { type: 'ChangeUserRole'; data: { userId: string; role: Role } };
export type ClaimEmail = { type: 'ClaimEmail'; data: { email: string; userId: string } };

const emailTaken = () => new ConflictError('A user with this email already exists', 'EMAIL_TAKEN');

export const decideRegistration = (command: RegisterUser, state: UserState): UserEvent[] => {
  if (state.kind !== 'missing') throw emailTaken();
  return [{ type: 'UserRegistered', data: { ...command.data, email: normalizeEmail(command.data.email) } }];
};

/**
 * Role changes are decided on the roster, not on the caller's token: only a current admin (or
 * the system) may change a role, and the last admin cannot be demoted.
 */
export const decideRoleChange = (command: ChangeUserRole, roster: RosterState, { actor }: CommandContext): RoleEvent[] => {
  if (actor.kind === 'user' && roleOf(roster, actor.userId) !== 'admin')
    throw new ForbiddenError('Only an admin can change roles', 'ROLE_FORBIDDEN');
  const { userId, role } = command.data;
  const from = roleOf(roster, userId);
  if (from === role) return [];
  if (from === 'admin' && adminCount(roster) === 1)
    throw new ConflictError('The last admin cannot be demoted', 'LAST_ADMIN');
  return [{ type: 'UserRoleChanged', data: { userId, from, to: role } }];
};

/**
 * Claims an e-mail address for a user. Claiming again for the same user id is a no-op, which is
 * how a registration interrupted between the claim and the UserRegistered append is resumed.
 */
export const decideEmailClaim = (command: ClaimEmail, claim: EmailClaimState): UserEmailClaimed[] => {
  const { email, userId } = command.data;
  if (claim.userId === null) return [{ type: 'UserEmailClaimed', data: { email: normalizeEmail(email), userId } }];
  if (claim.userId !== userId) throw emailTaken();
  return [];
};
