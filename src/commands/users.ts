import { randomUUID } from 'node:crypto';
import { hash } from '@node-rs/argon2';
import { SYSTEM, type Actor, type Role } from '../domain/actor.js';
import { ConflictError } from '../domain/errors.js';
import type { UserEmailClaimed } from '../domain/user/events.js';
import { emailStreamId, userStreamId, type UserEvent } from '../domain/user/events.js';
import { decide, decideEmailClaim, type UserCommand } from '../domain/user/decide.js';
import {
  evolve,
  evolveEmailClaim,
  initialEmailClaim,
  initialState,
  type EmailClaimState,
  type UserState,
} from '../domain/user/state.js';
import type { EventStore } from '../infra/eventstore/eventStore.js';
import { handleCommand, type CommandOptions, type Decider } from './handleCommand.js';

export const userDecider: Decider<UserCommand, UserEvent, UserState> = { decide, evolve, initialState };

type ClaimCommand = { type: 'ClaimEmail'; email: string; userId: string };
const emailClaimDecider: Decider<ClaimCommand, UserEmailClaimed, EmailClaimState> = {
  decide: (command, state) => decideEmailClaim(state, command),
  evolve: evolveEmailClaim,
  initialState: initialEmailClaim,
};

export type Registration = Readonly<{ email: string; name: string; password: string; role?: Role }>;

export const hashPassword = (password: string) => hash(password);

export const userCommands = ({ eventStore }: { eventStore: EventStore }) => {
  const readClaim = async (email: string): Promise<EmailClaimState> => {
    const events = await eventStore.readStream(emailStreamId(email));
    return { userId: (events.at(-1)?.data as UserEmailClaimed['data'] | undefined)?.userId ?? null };
  };
  const isRegistered = async (userId: string) =>
    (await eventStore.readStream(userStreamId(userId), { toVersion: 1 })).length > 0;

  return {
    /**
     * Claims the address in its own stream (unique through the expected revision), then records
     * the user. A claim left by an interrupted registration is resumed with the same user id.
     */
    async register(
      { email, name, password, role = 'user' }: Registration,
      { now, correlationId, bySystem = false }: { now: string; correlationId: string; bySystem?: boolean },
    ) {
      const claim = await readClaim(email);
      if (claim.userId && (await isRegistered(claim.userId)))
        throw new ConflictError('A user with this email already exists', 'EMAIL_TAKEN');
      const userId = claim.userId ?? randomUUID();
      const passwordHash = await hashPassword(password);
      // A self-registration is recorded as the new user's own act; seeding as the system's.
      const actor: Actor = bySystem ? SYSTEM : { kind: 'user', userId, role: 'user' };
      const options: CommandOptions = { context: { now, actor }, correlationId };
      await handleCommand(eventStore, emailClaimDecider, emailStreamId(email), { type: 'ClaimEmail', email, userId }, options);
      const command: UserCommand = { type: 'RegisterUser', data: { userId, email, name, passwordHash, role } };
      return handleCommand(eventStore, userDecider, userStreamId(userId), command, options);
    },

    changeRole: (userId: string, role: Role, options: CommandOptions) =>
      handleCommand(eventStore, userDecider, userStreamId(userId), { type: 'ChangeUserRole', data: { role } }, options),
  };
};
export type UserCommands = ReturnType<typeof userCommands>;
