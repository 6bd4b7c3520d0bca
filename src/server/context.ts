import type { FastifyRequest } from 'fastify';
import type { Keyhaven } from '../keyhaven.ts';
import type { Services } from '../services.ts';
import type { Metrics } from './metrics.ts';

/**
 * What the route groups of one server share: built once by buildServer and handed to each group. The
 * services are also spread out by name (`context.videos`, `context.usage`, ...).
 */
export interface ServiceContext
  extends Pick<Services, 'tokens' | 'webhooks' | 'events' | 'usage' | 'budgets' | 'limits' | 'videos'> {
  keyhaven: Keyhaven;
  services: Services;
  metrics: Metrics;
  clock: () => Date;
  /**
   * What DELETE /v1/users/:userId (a core route) does before the user is shredded, in the order the
   * route groups added it: each group removes what it keeps of the user. They run once the caller is
   * known to be allowed to delete the user, and a failing step stops the deletion before the shred.
   */
  beforeUserShred: ((userId: string, request: FastifyRequest) => Promise<void>)[];
}
