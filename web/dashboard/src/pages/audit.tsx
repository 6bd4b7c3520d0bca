import { useState } from 'react';
import type { AuditEvent, AuditVerification } from '../api.ts';
import { Async, useApi, When } from '../ui.tsx';

const PAGE = 100;

export function AuditPage() {
  const [after, setAfter] = useState<string[]>([]);
  const afterSeq = after.at(-1);
  const verification = useApi<AuditVerification>('/v1/admin/audit/verify');
  const events = useApi<{ events: AuditEvent[] }>(
    `/v1/admin/audit?limit=${PAGE}${afterSeq ? `&afterSeq=${afterSeq}` : ''}`,
  );
  return (
    <>
      <h1>Audit log</h1>
      <Async loaded={verification}>
        {(data) =>
          data.ok ? (
            <p className="verified ok" data-testid="audit-verification">
              Hash chain verified: {data.count} events, intact up to #{data.headSeq ?? '—'}.
            </p>
          ) : (
            <p className="verified broken" role="alert" data-testid="audit-verification">
              Hash chain broken at event #{data.brokenSeq}: {data.reason} ({data.count} events checked).
            </p>
          )
        }
      </Async>
      <Async loaded={events}>
        {(data) => (
          <>
            <table>
              <thead>
                <tr>
                  <th scope="col" className="number">
                    #
                  </th>
                  <th scope="col">When</th>
                  <th scope="col">Action</th>
                  <th scope="col">Actor</th>
                  <th scope="col">User</th>
                  <th scope="col">Provider</th>
                  <th scope="col">Purpose</th>
                  <th scope="col">Hash</th>
                </tr>
              </thead>
              <tbody>
                {data.events.map((event) => (
                  <tr key={event.seq}>
                    <td className="number">{event.seq}</td>
                    <td>
                      <When iso={event.occurredAt} />
                    </td>
                    <th scope="row">{event.action}</th>
                    <td>{event.actor}</td>
                    <td>{event.userId ?? '—'}</td>
                    <td>{event.provider ?? '—'}</td>
                    <td>{event.purpose ?? '—'}</td>
                    <td>
                      <code title={event.hash}>{event.hash.slice(0, 12)}…</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <div className="pager">
              <button
                type="button"
                disabled={after.length === 0}
                onClick={() => setAfter(after.slice(0, -1))}
              >
                Earlier
              </button>
              <button
                type="button"
                disabled={data.events.length < PAGE}
                onClick={() => {
                  const last = data.events.at(-1);
                  if (last) setAfter([...after, last.seq]);
                }}
              >
                Later
              </button>
            </div>
          </>
        )}
      </Async>
    </>
  );
}
