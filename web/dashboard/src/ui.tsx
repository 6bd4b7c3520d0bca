import { createContext, type ReactNode, useContext, useEffect, useState } from 'react';
import { ApiError, api } from './api.ts';

/** Shared pieces of the dashboard's pages: the token context, data loading, formatting, small widgets. */
export const SessionContext = createContext<{ token: string; signOut: () => void } | null>(null);

export function useSession() {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside the signed-in dashboard');
  return session;
}

export type Loaded<T> =
  | { state: 'loading' }
  | { state: 'error'; error: ApiError }
  | { state: 'ready'; data: T };

/** GETs `path` (null: nothing to load) and reloads when it changes; a 401 signs out. */
export function useApi<T>(path: string | null): Loaded<T> {
  const { token, signOut } = useSession();
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: 'loading' });
  useEffect(() => {
    if (path === null) return;
    let current = true;
    setLoaded({ state: 'loading' });
    api<T>(token, path).then(
      (data) => {
        if (current) setLoaded({ state: 'ready', data });
      },
      (error: unknown) => {
        if (!current) return;
        if (error instanceof ApiError && error.status === 401) signOut();
        setLoaded({
          state: 'error',
          error: error instanceof ApiError ? error : new ApiError(0, 'unknown', 'Something went wrong.'),
        });
      },
    );
    return () => {
      current = false;
    };
  }, [path, token, signOut]);
  return loaded;
}

export function Async<T>({ loaded, children }: { loaded: Loaded<T>; children: (data: T) => ReactNode }) {
  if (loaded.state === 'loading') return <p className="muted">Loading…</p>;
  if (loaded.state === 'error') {
    return (
      <p className="error" role="alert">
        {loaded.error.message}
      </p>
    );
  }
  return <>{children(loaded.data)}</>;
}

const usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
// Per-call costs are fractions of a cent: small amounts keep three significant digits instead of $0.00.
const smallUsd = new Intl.NumberFormat('en-US', {
  style: 'currency',
  currency: 'USD',
  maximumSignificantDigits: 3,
});
const integer = new Intl.NumberFormat('en-US');
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export const formatUsd = (value: number) =>
  (value !== 0 && Math.abs(value) < 1 ? smallUsd : usd).format(value);
export const formatInteger = (value: number) => integer.format(value);

export function When({ iso, never = '—' }: { iso: string | null; never?: string }) {
  if (iso === null) return <span className="muted">{never}</span>;
  return <time dateTime={iso}>{dateTime.format(new Date(iso))}</time>;
}

export function StatusBadge({ status }: { status: string | null }) {
  const value = status ?? 'none';
  return (
    <span className="badge" data-status={value}>
      {value === 'none' ? 'not connected' : value}
    </span>
  );
}

export function Stat({ label, value, detail }: { label: string; value: ReactNode; detail?: ReactNode }) {
  return (
    <div className="stat">
      <dt>{label}</dt>
      <dd>
        <span className="stat-value">{value}</span>
        {detail ? <span className="stat-detail">{detail}</span> : null}
      </dd>
    </div>
  );
}

export function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** [from, to) of the last `days` UTC days, today included. */
export function lastDays(days: number): { from: string; to: string } {
  const today = new Date(`${isoDay(new Date())}T00:00:00Z`);
  const to = new Date(today.getTime() + 86_400_000);
  const from = new Date(to.getTime() - days * 86_400_000);
  return { from: isoDay(from), to: isoDay(to) };
}
