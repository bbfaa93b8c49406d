import { randomUUID } from 'node:crypto';
import { hash } from '@node-rs/argon2';
import { SYSTEM, type Actor, type Role } from '../domain/actor.js';
import { ConflictError, NotFoundError } from '../domain/errors.js';
import {
  decideEmailClaim,
  decideRegistration,
  decideRoleChange,
  type ChangeUserRole,
  type ClaimEmail,
  type RegisterUser,
} from '../domain/user/decide.js';
import {
  emailStreamId,
  ROLES_STREAM_ID,
  userStreamId,
  type RoleEvent,
  type UserEmailClaimed,
  type UserEvent,
} from '../domain/user/events.js';
import {
  evolve,
  evolveEmailClaim,
  evolveRoster,
  initialEmailClaim,
  initialRoster,
  initialState,
  type EmailClaimState,
  type RosterState,
  type UserState,
} from '../domain/user/state.js';
import { findUserInLog, readEmailClaim } from '../queries/credentials.js';
import { handleCommand, type CommandDeps, type CommandOptions, type Decider } from './handleCommand.js';

export const userDecider: Decider<RegisterUser, UserEvent, UserState> = {
  decide: (command, state) => decideRegistration(command, state),
  evolve,
  initialState,
};
const emailClaimDecider: Decider<ClaimEmail, UserEmailClaimed, EmailClaimState> = {
  decide: (command, state) => decideEmailClaim(command, state),
  evolve: evolveEmailClaim,
  initialState: initialEmailClaim,
};
export const rosterDecider: Decider<ChangeUserRole, RoleEvent, RosterState> = {
  decide: decideRoleChange,
  evolve: evolveRoster,
  initialState: initialRoster,
};

export type Registration = Readonly<{ email: string; name: string; password: string }>;

export const userCommands = (deps: CommandDeps & { onRolesChanged?: () => void }) => {
  const { eventStore } = deps;

  return {
    /**
     * Claims the address in its own stream (unique through the expected revision), then records
     * the user. A claim left by an interrupted registration is resumed with the same user id.
     */
    async register(
      { email, name, password }: Registration,
      { now, correlationId, bySystem = false }: { now: string; correlationId: string; bySystem?: boolean },
    ) {
      const claim = await readEmailClaim(eventStore, email);
      if (claim.userId && (await findUserInLog(eventStore, claim.userId)))
        throw new ConflictError('A user with this email already exists', 'EMAIL_TAKEN');
      const userId = claim.userId ?? randomUUID();
      const passwordHash = await hash(password);
      // A self-registration is recorded as the new user's own act; seeding as the system's.
      const actor: Actor = bySystem ? SYSTEM : { kind: 'user', userId, role: 'user' };
      const options: CommandOptions = { context: { now, actor }, correlationId };
      await handleCommand(deps, emailClaimDecider, emailStreamId(email), { type: 'ClaimEmail', data: { email, userId } }, options);
      const command: RegisterUser = { type: 'RegisterUser', data: { userId, email, name, passwordHash } };
      return handleCommand(deps, userDecider, userStreamId(userId), command, options);
    },

    async changeRole(userId: string, role: Role, options: CommandOptions) {
      if (!(await findUserInLog(eventStore, userId))) throw new NotFoundError('User not found', 'USER_NOT_FOUND');
      try {
        return await handleCommand(deps, rosterDecider, ROLES_STREAM_ID, { type: 'ChangeUserRole', data: { userId, role } }, options);
      } finally {
        // Whatever the outcome, a roster remembered from before must not answer the next request.
        deps.onRolesChanged?.();
      }
    },
  };
};
export type UserCommands = ReturnType<typeof userCommands>;
