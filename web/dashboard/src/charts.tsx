import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { DailyRow } from './api.ts';
import { formatInteger, formatUsd } from './ui.tsx';

/**
 * Usage over time as stacked bars, one colour per provider or model, with the same figures as a table
 * for screen readers and for anyone who wants the numbers.
 */
const PALETTE = ['#0a58ca', '#b3261e', '#146c2e', '#8a4b00', '#6f42c1', '#0f766e', '#9d174d', '#374151'];

export type Dimension = 'provider' | 'model';
export type Metric = 'requests' | 'costUsd';

function seriesKey(row: DailyRow, by: Dimension): string {
  return by === 'provider' ? row.provider : `${row.provider}/${row.model || '(none)'}`;
}

function everyDay(from: string, to: string): string[] {
  const days: string[] = [];
  for (let time = Date.parse(`${from}T00:00:00Z`); time < Date.parse(`${to}T00:00:00Z`); time += 86_400_000) {
    days.push(new Date(time).toISOString().slice(0, 10));
  }
  return days;
}

export function UsageChart({
  rows,
  from,
  to,
  by,
  metric,
  title,
}: {
  rows: readonly DailyRow[];
  from: string;
  to: string;
  by: Dimension;
  metric: Metric;
  title: string;
}) {
  const keys = [...new Set(rows.map((row) => seriesKey(row, by)))].sort();
  const byDay = new Map<string, Record<string, number | string>>(
    everyDay(from, to).map((day) => [day, { day: day.slice(5) }]),
  );
  for (const row of rows) {
    const entry = byDay.get(row.day);
    if (!entry) continue;
    const key = seriesKey(row, by);
    entry[key] = Number(entry[key] ?? 0) + row[metric];
  }
  const data = [...byDay.values()];
  const format = metric === 'costUsd' ? formatUsd : formatInteger;
  const totals = keys.map((key) => ({
    key,
    value: rows.filter((row) => seriesKey(row, by) === key).reduce((sum, row) => sum + row[metric], 0),
  }));
  const titleId = `chart-${by}-${metric}`;
  return (
    <figure className="chart" aria-labelledby={titleId} data-testid={`chart-${by}-${metric}`}>
      <figcaption id={titleId}>{title}</figcaption>
      {keys.length === 0 ? (
        <p className="muted">No usage in this period.</p>
      ) : (
        <>
          <div className="chart-area" role="img" aria-label={`${title}: stacked bars per day`}>
            <ResponsiveContainer width="100%" height={260}>
              <BarChart data={data} margin={{ top: 8, right: 8, bottom: 8, left: 8 }}>
                <CartesianGrid strokeDasharray="3 3" vertical={false} />
                <XAxis dataKey="day" tick={{ fontSize: 12 }} minTickGap={12} />
                <YAxis tick={{ fontSize: 12 }} tickFormatter={(value: number) => format(value)} width={72} />
                <Tooltip formatter={(value) => format(Number(value))} />
                <Legend />
                {keys.map((key, index) => (
                  <Bar
                    key={key}
                    dataKey={key}
                    stackId="usage"
                    fill={PALETTE[index % PALETTE.length]}
                    isAnimationActive={false}
                  />
                ))}
              </BarChart>
            </ResponsiveContainer>
          </div>
          <details>
            <summary>Totals as a table</summary>
            <table>
              <thead>
                <tr>
                  <th scope="col">{by === 'provider' ? 'Provider' : 'Provider / model'}</th>
                  <th scope="col" className="number">
                    {metric === 'costUsd' ? 'Cost' : 'Requests'}
                  </th>
                </tr>
              </thead>
              <tbody>
                {totals.map((total) => (
                  <tr key={total.key}>
                    <th scope="row">{total.key}</th>
                    <td className="number">{format(total.value)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        </>
      )}
    </figure>
  );
}
