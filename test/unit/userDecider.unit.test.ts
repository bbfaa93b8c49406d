import { describe, expect, it } from 'vitest';
import { SYSTEM, type Actor, type Role } from '../../src/domain/actor.js';
import { ConflictError, ForbiddenError, NotFoundError } from '../../src/domain/errors.js';
import { decide, decideEmailClaim, type UserCommand } from '../../src/domain/user/decide.js';
import { emailStreamId, type UserEmailClaimed, type UserEvent, type UserRegistered } from '../../src/domain/user/events.js';
import { evolve, evolveEmailClaim, initialEmailClaim, initialState } from '../../src/domain/user/state.js';
import { deciderSpec } from '../support/decider.js';

const NOW = '2025-06-15T12:00:00.000Z';
const ADA = 'user-ada';
const BOB = 'user-bob';
const ada: Actor = { kind: 'user', userId: ADA, role: 'user' };
const admin: Actor = { kind: 'user', userId: 'user-admin', role: 'admin' };

// A self-registration is the new user's own act, so Ada acts unless a test says otherwise.
const given = deciderSpec({ decide, evolve, initialState }, { now: NOW, actor: ada });

const registration = (data: Partial<UserRegistered['data']> = {}): UserRegistered['data'] => ({
  userId: ADA,
  email: 'ada@example.com',
  name: 'Ada Lovelace',
  passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
  role: 'user',
  ...data,
});
const registered = (data: Partial<UserRegistered['data']> = {}): UserRegistered => ({ type: 'UserRegistered', data: registration(data) });
const roleChanged = (from: Role, to: Role): UserEvent => ({ type: 'UserRoleChanged', data: { from, to } });

const registerUser = (data: Partial<UserRegistered['data']> = {}): UserCommand => ({ type: 'RegisterUser', data: registration(data) });
const changeUserRole = (role: Role): UserCommand => ({ type: 'ChangeUserRole', data: { role } });

describe('RegisterUser', () => {
  it('records a new user with the password hash it was given', () => {
    given([]).when(registerUser()).then([registered()]);
  });

  it('records the e-mail address trimmed and in lower case', () => {
    given([]).when(registerUser({ email: '  Ada@Example.COM ' })).then([registered({ email: 'ada@example.com' })]);
  });

  it('forbids a self-registration as admin', () => {
    given([]).when(registerUser({ role: 'admin' })).thenThrows(ForbiddenError, 'ROLE_FORBIDDEN');
  });

  it('lets an admin register another admin', () => {
    given([]).when(registerUser({ role: 'admin' }), { actor: admin }).then([registered({ role: 'admin' })]);
  });

  it('lets the system register an admin (seeding)', () => {
    given([]).when(registerUser({ role: 'admin' }), { actor: SYSTEM }).then([registered({ role: 'admin' })]);
  });

  it('refuses a user that is already registered as a taken e-mail address', () => {
    given([registered()]).when(registerUser()).thenThrows(ConflictError, 'EMAIL_TAKEN');
  });
});

describe('ChangeUserRole', () => {
  it('lets an admin promote a user', () => {
    given([registered()]).when(changeUserRole('admin'), { actor: admin }).then([roleChanged('user', 'admin')]);
  });

  it('lets an admin demote an admin', () => {
    given([registered({ role: 'admin' })]).when(changeUserRole('user'), { actor: admin }).then([roleChanged('admin', 'user')]);
  });

  it('lets the system change a role', () => {
    given([registered()]).when(changeUserRole('admin'), { actor: SYSTEM }).then([roleChanged('user', 'admin')]);
  });

  it('records nothing when the user already has that role', () => {
    given([registered({ role: 'admin' })]).when(changeUserRole('admin'), { actor: admin }).thenNothingHappens();
  });

  it('decides on the role the last change left', () => {
    given([registered(), roleChanged('user', 'admin')])
      .when(changeUserRole('user'), { actor: admin })
      .then([roleChanged('admin', 'user')]);
  });

  it('forbids a user to change a role, even their own', () => {
    given([registered()]).when(changeUserRole('admin')).thenThrows(ForbiddenError, 'ROLE_FORBIDDEN');
  });

  it('forbids a user before looking the target up, so unknown users do not leak', () => {
    given([]).when(changeUserRole('admin')).thenThrows(ForbiddenError, 'ROLE_FORBIDDEN');
  });

  it('refuses an unknown user as not found', () => {
    given([]).when(changeUserRole('admin'), { actor: admin }).thenThrows(NotFoundError, 'USER_NOT_FOUND');
  });
});

describe('decideEmailClaim', () => {
  const givenClaims = deciderSpec(
    {
      decide: (command: { email: string; userId: string }, state: { userId: string | null }) => decideEmailClaim(state, command),
      evolve: evolveEmailClaim,
      initialState: initialEmailClaim,
    },
    { now: NOW, actor: SYSTEM },
  );
  const claimed = (userId: string): UserEmailClaimed => ({ type: 'UserEmailClaimed', data: { email: 'ada@example.com', userId } });

  it('claims a free address for the user, normalised', () => {
    givenClaims([]).when({ email: ' ADA@example.com', userId: ADA }).then([claimed(ADA)]);
  });

  it('records nothing when the same user claims the address again (an interrupted registration resumes)', () => {
    givenClaims([claimed(ADA)]).when({ email: 'ada@example.com', userId: ADA }).thenNothingHappens();
  });

  it('keeps one claim stream per address whatever its case or surrounding spaces', () => {
    expect(emailStreamId(' Ada@Example.COM')).toBe(emailStreamId('ada@example.com'));
  });

  it('refuses an address another user holds', () => {
    givenClaims([claimed(ADA)]).when({ email: 'ada@example.com', userId: BOB }).thenThrows(ConflictError, 'EMAIL_TAKEN');
  });
});
