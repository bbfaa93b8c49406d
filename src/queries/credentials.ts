import { hash, verify } from '@node-rs/argon2';
import { stamp } from '../domain/event.js';
import { emailStreamId, userStreamId, type UserEmailClaimed, type UserEvent } from '../domain/user/events.js';
import { evolve, initialState, type User } from '../domain/user/state.js';
import type { EventStore } from '../infra/eventstore/eventStore.js';

// Verifying against a real hash when the address is unknown keeps both failures equally slow.
let dummyHash: Promise<string> | undefined;
const unknownUserHash = () => (dummyHash ??= hash('no such user'));

/**
 * Credentials are read from the log rather than the users read model: signing in right after
 * registering must not depend on projection lag, and there is no user yet to wait for.
 */
export const findUserInLog = async (eventStore: EventStore, userId: string): Promise<User | null> => {
  const events = await eventStore.readStream(userStreamId(userId));
  const state = events.reduce((s, e) => evolve(s, stamp(e as unknown as UserEvent, e.metadata.occurredAt)), initialState());
  return state.kind === 'registered' ? state.user : null;
};

export const verifyCredentials = async (eventStore: EventStore, email: string, password: string): Promise<User | null> => {
  const claim = (await eventStore.readStream(emailStreamId(email))).at(-1)?.data as UserEmailClaimed['data'] | undefined;
  const user = claim ? await findUserInLog(eventStore, claim.userId) : null;
  const ok = await verify(user?.passwordHash ?? (await unknownUserHash()), password).catch(() => false);
  return user && ok ? user : null;
};
