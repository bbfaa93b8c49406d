export const ROLES = ['user', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who issues a command: a signed-in user, or the system itself (scheduler, seeding). */
export type Actor = Readonly<{ kind: 'user'; userId: string; role: Role }> | Readonly<{ kind: 'system' }>;

export const SYSTEM: Actor = { kind: 'system' };

export const actorId = (actor: Actor): string => (actor.kind === 'system' ? 'system' : actor.userId);

export const isPrivileged = (actor: Actor): boolean => actor.kind === 'system' || actor.role === 'admin';

/** Context every command carries: time comes in here, never from a clock inside the domain. */
export type CommandContext = Readonly<{ now: string; actor: Actor }>;
