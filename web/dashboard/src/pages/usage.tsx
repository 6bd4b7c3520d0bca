import { useId, useState } from 'react';
import type { DailyRow } from '../api.ts';
import { UsageChart } from '../charts.tsx';
import { Async, formatInteger, formatUsd, lastDays, useApi } from '../ui.tsx';

const RANGES = [7, 30, 90] as const;

export function UsagePage() {
  const [days, setDays] = useState<(typeof RANGES)[number]>(30);
  const rangeId = useId();
  const range = lastDays(days);
  const daily = useApi<{ from: string; to: string; rows: DailyRow[] }>(
    `/v1/admin/usage/daily?from=${range.from}&to=${range.to}`,
  );
  return (
    <>
      <h1>Usage</h1>
      <div className="toolbar">
        <label htmlFor={rangeId}>Period</label>
        <select
          id={rangeId}
          value={days}
          onChange={(event) => setDays(Number(event.target.value) as (typeof RANGES)[number])}
        >
          {RANGES.map((value) => (
            <option key={value} value={value}>
              Last {value} days
            </option>
          ))}
        </select>
      </div>
      <Async loaded={daily}>
        {(data) => {
          const requests = data.rows.reduce((sum, row) => sum + row.requests, 0);
          const cost = data.rows.reduce((sum, row) => sum + row.costUsd, 0);
          return (
            <>
              <p>
                {formatInteger(requests)} requests, {formatUsd(cost)} from {data.from} to {data.to}{' '}
                (excluded).
              </p>
              <div className="chart-grid">
                <UsageChart
                  rows={data.rows}
                  from={data.from}
                  to={data.to}
                  by="provider"
                  metric="requests"
                  title="Requests per day by provider"
                />
                <UsageChart
                  rows={data.rows}
                  from={data.from}
                  to={data.to}
                  by="provider"
                  metric="costUsd"
                  title="Cost per day by provider"
                />
                <UsageChart
                  rows={data.rows}
                  from={data.from}
                  to={data.to}
                  by="model"
                  metric="requests"
                  title="Requests per day by model"
                />
                <UsageChart
                  rows={data.rows}
                  from={data.from}
                  to={data.to}
                  by="model"
                  metric="costUsd"
                  title="Cost per day by model"
                />
              </div>
            </>
          );
        }}
      </Async>
    </>
  );
}
