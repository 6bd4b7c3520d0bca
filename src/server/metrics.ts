import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of one server. Labels are the route pattern (`/v1/users/:userId/credentials`), never
 * the raw URL, and provider ids from the registry, never client text, so a scan of random paths cannot
 * grow the series without bound. No label ever holds a user id, token or key.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keyhaven_' });
  const labelNames = ['method', 'route', 'provider', 'status'] as const;
  const requests = new Counter({
    name: 'keyhaven_http_requests_total',
    help: 'HTTP requests by method, route pattern, provider and status',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'keyhaven_http_request_duration_seconds',
    help: 'HTTP request latency by method, route pattern, provider and status',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const upstreamErrors = new Counter({
    name: 'keyhaven_upstream_errors_total',
    help: 'Failed upstream provider calls by provider and kind (status code, or connect/timeout)',
    labelNames: ['provider', 'kind'] as const,
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'keyhaven_rate_limited_total',
    help: 'Requests refused with 429 by provider and source (keyhaven limit or upstream)',
    labelNames: ['provider', 'source'] as const,
    registers: [registry],
  });
  const videoJobs = new Counter({
    name: 'keyhaven_video_jobs_total',
    help: 'Video job transitions by provider and the status entered',
    labelNames: ['provider', 'status'] as const,
    registers: [registry],
  });
  const videoJobsActive = new Gauge({
    name: 'keyhaven_video_jobs_active',
    help: 'Video jobs this instance holds a lease on',
    registers: [registry],
  });
  return {
    registry,
    observe(
      labels: { method: string; route: string; provider?: string | undefined; status: number },
      seconds: number,
    ) {
      const values = {
        method: labels.method,
        route: labels.route,
        provider: labels.provider ?? '',
        status: String(labels.status),
      };
      requests.inc(values);
      duration.observe(values, seconds);
    },
    upstreamError(provider: string, kind: string) {
      upstreamErrors.inc({ provider, kind });
    },
    rateLimited(provider: string, source: 'keyhaven' | 'upstream') {
      rateLimited.inc({ provider, source });
    },
    videoJob(provider: string, status: string) {
      videoJobs.inc({ provider, status });
    },
    videoJobsActive,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Methods outside the usual set share one label value, for the same reason as route patterns. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'OTHER';
}
