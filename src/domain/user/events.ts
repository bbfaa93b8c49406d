import type { Role } from '../actor.js';
import type { Event } from '../event.js';

export type UserRegistered = Event<
  'UserRegistered',
  { userId: string; email: string; name: string; passwordHash: string; role: Role }
>;
export type UserRoleChanged = Event<'UserRoleChanged', { from: Role; to: Role }>;
export type UserEvent = UserRegistered | UserRoleChanged;

/** Lives in its own stream per e-mail address: the event store's expected revision makes the claim unique. */
export type UserEmailClaimed = Event<'UserEmailClaimed', { email: string; userId: string }>;

export const USER_EVENT_TYPES: readonly UserEvent['type'][] = ['UserRegistered', 'UserRoleChanged'];

export const normalizeEmail = (email: string): string => email.trim().toLowerCase();
export const userStreamId = (userId: string): string => `user-${userId}`;
export const emailStreamId = (email: string): string => `useremail-${normalizeEmail(email)}`;
