import type { DailyRow, Overview } from '../api.ts';
import { UsageChart } from '../charts.tsx';
import { Async, formatInteger, formatUsd, lastDays, Stat, useApi } from '../ui.tsx';

const RANGE = lastDays(30);

export function OverviewPage() {
  const overview = useApi<Overview>('/v1/admin/overview');
  const daily = useApi<{ from: string; to: string; rows: DailyRow[] }>(
    `/v1/admin/usage/daily?from=${RANGE.from}&to=${RANGE.to}`,
  );
  return (
    <>
      <h1>Overview</h1>
      <Async loaded={overview}>
        {(data) => (
          <>
            <dl className="stats" aria-label="Totals">
              <Stat
                label="Users"
                value={formatInteger(data.users)}
                detail={`${data.activeTokens} active tokens`}
              />
              <Stat
                label="Credentials"
                value={formatInteger(data.credentials.total)}
                detail={`${data.credentials.valid} valid · ${data.credentials.invalid} invalid · ${data.credentials.unverified} unverified`}
              />
              <Stat
                label="Requests this month"
                value={formatInteger(data.month.requests)}
                detail={`since ${data.month.from}`}
              />
              <Stat
                label="Cost this month"
                value={formatUsd(data.month.costUsd)}
                detail={
                  data.month.unpricedRequests > 0
                    ? `+ ${data.month.unpricedRequests} unpriced requests`
                    : 'priced requests'
                }
              />
              <Stat
                label="Video jobs"
                value={formatInteger(Object.values(data.videos).reduce((sum, value) => sum + value, 0))}
                detail={`${data.videos.running + data.videos.queued} in progress · ${data.videos.failed} failed`}
              />
              <Stat
                label="Webhook deliveries"
                value={formatInteger(data.webhookDeliveries.succeeded)}
                detail={`${data.webhookDeliveries.pending} pending · ${data.webhookDeliveries.failed} failed`}
              />
            </dl>
            <h2>Credentials by provider</h2>
            {data.credentials.byProvider.length === 0 ? (
              <p className="muted">No credentials stored yet.</p>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Provider</th>
                    <th scope="col" className="number">
                      Valid
                    </th>
                    <th scope="col" className="number">
                      Invalid
                    </th>
                    <th scope="col" className="number">
                      Unverified
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {data.credentials.byProvider.map((row) => (
                    <tr key={row.provider}>
                      <th scope="row">{row.provider}</th>
                      <td className="number">{row.valid}</td>
                      <td className="number">{row.invalid}</td>
                      <td className="number">{row.unverified}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </Async>
      <h2>Last 30 days</h2>
      <Async loaded={daily}>
        {(data) => (
          <UsageChart
            rows={data.rows}
            from={data.from}
            to={data.to}
            by="provider"
            metric="requests"
            title="Requests per day by provider"
          />
        )}
      </Async>
    </>
  );
}
