import type { Keyhaven } from '../keyhaven.ts';
import type { Budgets } from '../usage/budgets.ts';
import type { UsageMeter } from '../usage/meter.ts';
import type { EventSink } from '../webhooks/events.ts';
import type { TokenService } from './auth.ts';
import type { Metrics } from './metrics.ts';

/** What the route groups of one server share: built once by buildServer and handed to each group. */
export interface ServiceContext {
  keyhaven: Keyhaven;
  tokens: TokenService;
  metrics: Metrics;
  events: EventSink;
  usage: UsageMeter;
  budgets: Budgets;
  clock: () => Date;
}
