import type { Role } from '../actor.js';
import type { Event } from '../event.js';

export type UserRegistered = Event<'UserRegistered', { userId: string; email: string; name: string; passwordHash: string }>;
export type UserEvent = UserRegistered;

/** Lives in its own stream per e-mail address: the event store's expected revision makes the claim unique. */
export type UserEmailClaimed = Event<'UserEmailClaimed', { email: string; userId: string }>;

/**
 * Every role change lives in one stream, so the rule "there is always an admin" is decided on
 * the whole roster at once, and concurrent changes are serialised by its expected revision.
 */
export type UserRoleChanged = Event<'UserRoleChanged', { userId: string; from: Role; to: Role }>;
export type RoleEvent = UserRoleChanged;

export const USER_EVENT_TYPES: readonly string[] = ['UserRegistered', 'UserRoleChanged'];

export const normalizeEmail = (email: string): string => email.trim().toLowerCase();
export const userStreamId = (userId: string): string => `user-${userId}`;
export const emailStreamId = (email: string): string => `useremail-${normalizeEmail(email)}`;
export const ROLES_STREAM_ID = 'userroles';
