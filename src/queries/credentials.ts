import { hash, verify } from '@node-rs/argon2';
import type { Role } from '../domain/actor.js';
import { foldRecorded, type Event, type Stamped } from '../domain/event.js';
import { emailStreamId, ROLES_STREAM_ID, userStreamId, type RoleEvent, type UserEmailClaimed, type UserEvent } from '../domain/user/events.js';
import {
  evolve,
  evolveEmailClaim,
  evolveRoster,
  initialEmailClaim,
  initialRoster,
  initialState,
  roleOf,
  type EmailClaimState,
  type User,
} from '../domain/user/state.js';
import type { EventStore } from '../infra/eventstore/eventStore.js';

// Credentials and roles are read from the log rather than the users read model: signing in right
// after registering, and a role change taking effect at the next refresh, must not depend on
// projection lag (and before signing in there is no user to wait for).

export type Account = Readonly<{ user: User; role: Role }>;

const foldStream = async <E extends Event, S>(eventStore: EventStore, streamId: string, evolveFn: (s: S, e: Stamped<E>) => S, init: S) =>
  foldRecorded(evolveFn, init, await eventStore.readStream(streamId));

export const findUserInLog = async (eventStore: EventStore, userId: string): Promise<User | null> => {
  const state = await foldStream<UserEvent, ReturnType<typeof initialState>>(eventStore, userStreamId(userId), evolve, initialState());
  return state.kind === 'registered' ? state.user : null;
};

/** Every role change so far, folded: the `userroles` stream is small (one event per change). */
const readRoster = (eventStore: EventStore) =>
  foldStream<RoleEvent, ReturnType<typeof initialRoster>>(eventStore, ROLES_STREAM_ID, evolveRoster, initialRoster());

/** Whether this instance sees every role change itself (it is the only API instance), and since when. */
export type RosterTrust = Readonly<{ alone: () => boolean; aloneSince: () => number }>;

/**
 * The current role of a user, from the roster in the log: a demotion takes effect on the next
 * request, on every instance. In a cluster the roster is read at every call; an instance alone in
 * it sees every role change itself, so it keeps the roster it read since it became alone until
 * it changes a role (`forget`).
 */
export const createRoleLookup = (eventStore: EventStore, trust?: RosterTrust) => {
  let kept: { roster: ReturnType<typeof readRoster>; readAt: number } | null = null;
  const lookup = async (userId: string): Promise<Role> => {
    if (!trust?.alone()) return roleOf(await readRoster(eventStore), userId);
    if (!kept || kept.readAt < trust.aloneSince()) {
      const roster = readRoster(eventStore);
      kept = { roster, readAt: performance.now() };
      roster.catch(() => (kept = null));
    }
    return roleOf(await kept.roster, userId);
  };
  return Object.assign(lookup, { forget: () => void (kept = null) });
};

export const findAccount = async (eventStore: EventStore, userId: string): Promise<Account | null> => {
  const [user, roster] = await Promise.all([findUserInLog(eventStore, userId), readRoster(eventStore)]);
  return user ? { user, role: roleOf(roster, userId) } : null;
};

let dummyHash: Promise<string> | undefined;
// Verifying against a real hash when the address is unknown keeps both failures equally slow.
const unknownUserHash = () => (dummyHash ??= hash('no such user'));

/** Who holds an e-mail address, from its claim stream. */
export const readEmailClaim = async (eventStore: EventStore, email: string): Promise<EmailClaimState> =>
  foldRecorded<UserEmailClaimed, EmailClaimState>(evolveEmailClaim, initialEmailClaim(), await eventStore.readStream(emailStreamId(email)));

export const verifyCredentials = async (eventStore: EventStore, email: string, password: string): Promise<Account | null> => {
  const { userId } = await readEmailClaim(eventStore, email);
  const account = userId ? await findAccount(eventStore, userId) : null;
  const ok = await verify(account?.user.passwordHash ?? (await unknownUserHash()), password).catch(() => false);
  return account && ok ? account : null;
};
