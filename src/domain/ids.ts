import { v5 } from 'uuid';

/**
 * Any UUID in its textual form (upper or lower case), of any version or variant, the nil and the
 * max UUID included: task and user ids, token subjects. The one pattern every check uses.
 */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// TaskFlow's own name-based namespace, so its derived ids cannot meet another system's v5 ids.
const NAMESPACE = '3d9c1c4e-6f0b-4a47-9a8e-5f2b7d61c0a9';

/**
 * The same UUID (version 5) for the same parts, every time: what a request retried after a crash
 * must decide again identically (its command ids, a new task's id) is derived from its claim.
 */
export const derivedId = (...parts: readonly string[]): string => v5(JSON.stringify(parts), NAMESPACE);
