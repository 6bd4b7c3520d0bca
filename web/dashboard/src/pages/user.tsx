import type { CredentialSummary, DailyRow, VideoJob } from '../api.ts';
import { UsageChart } from '../charts.tsx';
import { Async, formatInteger, formatUsd, lastDays, StatusBadge, useApi, When } from '../ui.tsx';
import { VideoTable } from './videos.tsx';

interface Budget {
  amountUsd: number;
  spentUsd: number;
  remainingUsd: number;
  mode: string;
  month: string;
  thresholds: number[];
}

const RANGE = lastDays(30);

function BudgetSection({ userId }: { userId: string }) {
  const budget = useApi<Budget>(`/v1/users/${encodeURIComponent(userId)}/budget`);
  if (budget.state === 'error' && budget.error.status === 404) {
    return <p className="muted">No monthly budget is set for this user.</p>;
  }
  return (
    <Async loaded={budget}>
      {(data) => (
        <dl className="stats">
          <div className="stat">
            <dt>Budget ({data.month})</dt>
            <dd>
              <span className="stat-value">{formatUsd(data.amountUsd)}</span>
              <span className="stat-detail">
                {data.mode} limit · alerts at {data.thresholds.join(', ')} %
              </span>
            </dd>
          </div>
          <div className="stat">
            <dt>Spent</dt>
            <dd>
              <span className="stat-value">{formatUsd(data.spentUsd)}</span>
              <span className="stat-detail">{formatUsd(data.remainingUsd)} left</span>
            </dd>
          </div>
        </dl>
      )}
    </Async>
  );
}

export function UserPage({ userId }: { userId: string }) {
  const base = `/v1/users/${encodeURIComponent(userId)}`;
  const credentials = useApi<{ credentials: CredentialSummary[] }>(`${base}/credentials`);
  const videos = useApi<{ jobs: VideoJob[] }>(`${base}/videos?limit=20`);
  const daily = useApi<{ from: string; to: string; rows: DailyRow[] }>(
    `/v1/admin/usage/daily?from=${RANGE.from}&to=${RANGE.to}&userId=${encodeURIComponent(userId)}`,
  );
  return (
    <>
      <p>
        <a href="#/users">← All users</a>
      </p>
      <h1>
        User <code>{userId}</code>
      </h1>
      <h2>Credentials</h2>
      <Async loaded={credentials}>
        {(data) => {
          const connected = data.credentials.filter((credential) => credential.connected);
          return connected.length === 0 ? (
            <p className="muted">No credentials stored.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Provider</th>
                  <th scope="col">Status</th>
                  <th scope="col">Key</th>
                  <th scope="col" className="number">
                    Version
                  </th>
                  <th scope="col">Last used</th>
                  <th scope="col">Last checked</th>
                </tr>
              </thead>
              <tbody>
                {connected.map((credential) => (
                  <tr key={credential.provider}>
                    <th scope="row">{credential.provider}</th>
                    <td>
                      <StatusBadge status={credential.status} />
                      {credential.statusReason ? (
                        <span className="muted"> {credential.statusReason}</span>
                      ) : null}
                    </td>
                    <td>
                      <code>{credential.maskedKey}</code>
                    </td>
                    <td className="number">{credential.version}</td>
                    <td>
                      <When iso={credential.lastUsedAt} never="never" />
                    </td>
                    <td>
                      <When iso={credential.lastValidatedAt} never="never" />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          );
        }}
      </Async>
      <h2>Budget</h2>
      <BudgetSection userId={userId} />
      <h2>Usage, last 30 days</h2>
      <Async loaded={daily}>
        {(data) => (
          <>
            <p>
              {formatInteger(data.rows.reduce((sum, row) => sum + row.requests, 0))} requests,{' '}
              {formatUsd(data.rows.reduce((sum, row) => sum + row.costUsd, 0))}.
            </p>
            <UsageChart
              rows={data.rows}
              from={data.from}
              to={data.to}
              by="model"
              metric="requests"
              title="Requests per day by model"
            />
          </>
        )}
      </Async>
      <h2>Video jobs</h2>
      <Async loaded={videos}>{(data) => <VideoTable jobs={data.jobs} showUser={false} />}</Async>
    </>
  );
}
