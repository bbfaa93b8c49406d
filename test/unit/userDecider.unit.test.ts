import { describe, expect, it } from 'vitest';
import { SYSTEM, type Actor, type Role } from '../../src/domain/actor.js';
import { ConflictError, ForbiddenError } from '../../src/domain/errors.js';
import {
  decideEmailClaim,
  decideRegistration,
  decideRoleChange,
  type ChangeUserRole,
  type ClaimEmail,
  type RegisterUser,
} from '../../src/domain/user/decide.js';
import { emailStreamId, type UserEmailClaimed, type UserRegistered, type UserRoleChanged } from '../../src/domain/user/events.js';
import {
  evolve,
  evolveEmailClaim,
  evolveRoster,
  initialEmailClaim,
  initialRoster,
  initialState,
  roleOf,
} from '../../src/domain/user/state.js';
import { stamp } from '../../src/domain/event.js';
import { deciderSpec } from '../support/decider.js';

const NOW = '2025-06-15T12:00:00.000Z';
const ADA = 'user-ada';
const BOB = 'user-bob';
const ROOT = 'user-root';
const ada: Actor = { kind: 'user', userId: ADA, role: 'user' };
const root: Actor = { kind: 'user', userId: ROOT, role: 'admin' };

const registration = (data: Partial<UserRegistered['data']> = {}): UserRegistered['data'] => ({
  userId: ADA,
  email: 'ada@example.com',
  name: 'Ada Lovelace',
  passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
  ...data,
});
const registered = (data: Partial<UserRegistered['data']> = {}): UserRegistered => ({ type: 'UserRegistered', data: registration(data) });
const registerUser = (data: Partial<UserRegistered['data']> = {}): RegisterUser => ({ type: 'RegisterUser', data: registration(data) });

describe('RegisterUser', () => {
  // A self-registration is the new user's own act.
  const given = deciderSpec({ decide: decideRegistration, evolve, initialState }, { now: NOW, actor: ada });

  it('records a new user with the password hash it was given', () => {
    given([]).when(registerUser()).then([registered()]);
  });

  it('records the e-mail address trimmed and in lower case', () => {
    given([]).when(registerUser({ email: '  Ada@Example.COM ' })).then([registered({ email: 'ada@example.com' })]);
  });

  it('refuses a user that is already registered as a taken e-mail address', () => {
    given([registered()]).when(registerUser()).thenThrows(ConflictError, 'EMAIL_TAKEN');
  });

  it('starts every user with the role user', () => {
    expect(roleOf(initialRoster(), ADA)).toBe('user');
  });
});

describe('ChangeUserRole (decided on the roster of all roles)', () => {
  const given = deciderSpec({ decide: decideRoleChange, evolve: evolveRoster, initialState: initialRoster }, { now: NOW, actor: root });
  const changed = (userId: string, from: Role, to: Role): UserRoleChanged => ({ type: 'UserRoleChanged', data: { userId, from, to } });
  const change = (userId: string, role: Role): ChangeUserRole => ({ type: 'ChangeUserRole', data: { userId, role } });
  const rootIsAdmin = changed(ROOT, 'user', 'admin');

  it('lets an admin promote a user', () => {
    given([rootIsAdmin]).when(change(ADA, 'admin')).then([changed(ADA, 'user', 'admin')]);
  });

  it('lets an admin demote another admin while one admin remains', () => {
    given([rootIsAdmin, changed(ADA, 'user', 'admin')]).when(change(ADA, 'user')).then([changed(ADA, 'admin', 'user')]);
  });

  it('lets an admin step down while another admin remains', () => {
    given([rootIsAdmin, changed(ADA, 'user', 'admin')]).when(change(ROOT, 'user')).then([changed(ROOT, 'admin', 'user')]);
  });

  it('refuses to demote the last admin, even by themselves', () => {
    given([rootIsAdmin]).when(change(ROOT, 'user')).thenThrows(ConflictError, 'LAST_ADMIN');
  });

  it('refuses to demote the last admin after earlier demotions', () => {
    given([rootIsAdmin, changed(ADA, 'user', 'admin'), changed(ADA, 'admin', 'user')])
      .when(change(ROOT, 'user'))
      .thenThrows(ConflictError, 'LAST_ADMIN');
  });

  it('lets the system change a role (seeding the first admin)', () => {
    given([]).when(change(ROOT, 'admin'), { actor: SYSTEM }).then([rootIsAdmin]);
  });

  it('records nothing when the user already has that role', () => {
    given([rootIsAdmin, changed(ADA, 'user', 'admin')]).when(change(ADA, 'admin')).thenNothingHappens();
    given([rootIsAdmin]).when(change(BOB, 'user')).thenNothingHappens();
  });

  it('forbids a user to change a role, even their own', () => {
    given([rootIsAdmin]).when(change(ADA, 'admin'), { actor: ada }).thenThrows(ForbiddenError, 'ROLE_FORBIDDEN');
  });

  it('trusts the roster, not the token: a demoted admin with an old admin token is refused', () => {
    const staleToken: Actor = { kind: 'user', userId: ADA, role: 'admin' };
    given([rootIsAdmin, changed(ADA, 'user', 'admin'), changed(ADA, 'admin', 'user')])
      .when(change(BOB, 'admin'), { actor: staleToken })
      .thenThrows(ForbiddenError, 'ROLE_FORBIDDEN');
  });

  it('folds the roster: the last change of each user wins', () => {
    const roster = [rootIsAdmin, changed(ADA, 'user', 'admin'), changed(ADA, 'admin', 'user')].reduce(
      (s, e) => evolveRoster(s, stamp(e, NOW)),
      initialRoster(),
    );
    expect([roleOf(roster, ROOT), roleOf(roster, ADA), roleOf(roster, BOB)]).toEqual(['admin', 'user', 'user']);
  });
});

describe('ClaimEmail', () => {
  const given = deciderSpec(
    { decide: decideEmailClaim, evolve: evolveEmailClaim, initialState: initialEmailClaim },
    { now: NOW, actor: SYSTEM },
  );
  const claimed = (userId: string): UserEmailClaimed => ({ type: 'UserEmailClaimed', data: { email: 'ada@example.com', userId } });
  const claim = (email: string, userId: string): ClaimEmail => ({ type: 'ClaimEmail', data: { email, userId } });

  it('claims a free address for the user, normalised', () => {
    given([]).when(claim(' ADA@example.com', ADA)).then([claimed(ADA)]);
  });

  it('records nothing when the same user claims the address again (an interrupted registration resumes)', () => {
    given([claimed(ADA)]).when(claim('ada@example.com', ADA)).thenNothingHappens();
  });

  it('keeps one claim stream per address whatever its case or surrounding spaces', () => {
    expect(emailStreamId(' Ada@Example.COM')).toBe(emailStreamId('ada@example.com'));
  });

  it('refuses an address another user holds', () => {
    given([claimed(ADA)]).when(claim('ada@example.com', BOB)).thenThrows(ConflictError, 'EMAIL_TAKEN');
  });
});
