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
}
