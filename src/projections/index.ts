import type { Projection } from './projection.js';
import { tasksProjection } from './tasks.js';
import { usersProjection } from './users.js';

export const ALL_PROJECTIONS: readonly Projection[] = [tasksProjection, usersProjection];
