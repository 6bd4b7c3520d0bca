import { useId, useState } from 'react';
import type { WebhookDelivery, WebhookEndpoint } from '../api.ts';
import { Async, StatusBadge, useApi, When } from '../ui.tsx';

const STATUSES = ['', 'pending', 'succeeded', 'failed'] as const;

export function WebhooksPage() {
  const [status, setStatus] = useState<(typeof STATUSES)[number]>('');
  const statusId = useId();
  const endpoints = useApi<{ webhooks: WebhookEndpoint[] }>('/v1/webhooks');
  const deliveries = useApi<{ deliveries: WebhookDelivery[] }>(
    `/v1/webhooks/deliveries?limit=100${status ? `&status=${status}` : ''}`,
  );
  return (
    <>
      <h1>Webhooks</h1>
      <h2>Endpoints</h2>
      <Async loaded={endpoints}>
        {(data) =>
          data.webhooks.length === 0 ? (
            <p className="muted">No endpoints registered (POST /v1/webhooks).</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Endpoint</th>
                  <th scope="col">URL</th>
                  <th scope="col">Events</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {data.webhooks.map((endpoint) => (
                  <tr key={endpoint.id}>
                    <th scope="row">
                      <code>{endpoint.id}</code>
                    </th>
                    <td className="url">{endpoint.url}</td>
                    <td>{endpoint.events.length === 0 ? 'all' : endpoint.events.join(', ')}</td>
                    <td>
                      {endpoint.disabledAt ? (
                        <>
                          <StatusBadge status="disabled" /> {endpoint.disabledReason}
                        </>
                      ) : (
                        <StatusBadge status="enabled" />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Async>
      <h2>Deliveries</h2>
      <div className="toolbar">
        <label htmlFor={statusId}>Status</label>
        <select
          id={statusId}
          value={status}
          onChange={(event) => setStatus(event.target.value as (typeof STATUSES)[number])}
        >
          {STATUSES.map((value) => (
            <option key={value} value={value}>
              {value === '' ? 'Any' : value}
            </option>
          ))}
        </select>
      </div>
      <Async loaded={deliveries}>
        {(data) =>
          data.deliveries.length === 0 ? (
            <p className="muted">No deliveries.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">User</th>
                  <th scope="col">Target</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="number">
                    Attempts
                  </th>
                  <th scope="col">Last answer</th>
                  <th scope="col">Created</th>
                  <th scope="col">Next attempt</th>
                </tr>
              </thead>
              <tbody>
                {data.deliveries.map((delivery) => (
                  <tr key={delivery.id}>
                    <th scope="row">{delivery.eventType}</th>
                    <td>{delivery.userId}</td>
                    <td className="url">{delivery.url ?? delivery.endpointId}</td>
                    <td>
                      <StatusBadge status={delivery.status} />
                    </td>
                    <td className="number">{delivery.attempts}</td>
                    <td>{delivery.lastResponseStatus ?? delivery.lastError ?? '—'}</td>
                    <td>
                      <When iso={delivery.createdAt} />
                    </td>
                    <td>
                      <When iso={delivery.nextAttemptAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Async>
    </>
  );
}
