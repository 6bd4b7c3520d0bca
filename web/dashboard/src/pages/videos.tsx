import { Fragment, useId, useState } from 'react';
import type { VideoJob } from '../api.ts';
import { Async, formatUsd, StatusBadge, useApi, When } from '../ui.tsx';

const STATUSES = ['', 'queued', 'running', 'succeeded', 'failed', 'canceled'] as const;

export function VideoTable({ jobs, showUser }: { jobs: readonly VideoJob[]; showUser: boolean }) {
  const [open, setOpen] = useState<string | null>(null);
  if (jobs.length === 0) return <p className="muted">No video jobs.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Job</th>
          {showUser ? <th scope="col">User</th> : null}
          <th scope="col">Status</th>
          <th scope="col">Provider / model</th>
          <th scope="col">Prompt</th>
          <th scope="col" className="number">
            Estimate
          </th>
          <th scope="col">Created</th>
          <th scope="col">Attempts</th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((job) => (
          <Fragment key={`${job.userId}/${job.id}`}>
            <tr>
              <th scope="row">
                <code>{job.id}</code>
              </th>
              {showUser ? (
                <td>
                  <a href={`#/users/${encodeURIComponent(job.userId)}`}>{job.userId}</a>
                </td>
              ) : null}
              <td>
                <StatusBadge status={job.status} />
                {job.error ? <span className="muted"> {job.error.message}</span> : null}
              </td>
              <td>
                {job.provider} / {job.model}
              </td>
              <td className="prompt">{job.prompt}</td>
              <td className="number">{job.estimatedCost === null ? '—' : formatUsd(job.estimatedCost)}</td>
              <td>
                <When iso={job.createdAt} />
              </td>
              <td>
                <button
                  type="button"
                  aria-expanded={open === job.id}
                  aria-controls={`attempts-${job.id}`}
                  onClick={() => setOpen(open === job.id ? null : job.id)}
                >
                  {job.attempts.length} {job.attempts.length === 1 ? 'attempt' : 'attempts'}
                </button>
              </td>
            </tr>
            {open === job.id ? (
              <tr id={`attempts-${job.id}`}>
                <td colSpan={showUser ? 8 : 7}>
                  {job.attempts.length === 0 ? (
                    <p className="muted">Not submitted to a provider yet.</p>
                  ) : (
                    <ol className="attempts">
                      {job.attempts.map((attempt) => (
                        <li key={`${attempt.provider}-${attempt.startedAt}`}>
                          {attempt.provider} / {attempt.model} (credential v{attempt.credentialVersion}):{' '}
                          <StatusBadge status={attempt.status} /> from <When iso={attempt.startedAt} /> to{' '}
                          <When iso={attempt.endedAt} never="now" />
                          {attempt.errorMessage ? ` — ${attempt.errorCode}: ${attempt.errorMessage}` : ''}
                        </li>
                      ))}
                    </ol>
                  )}
                </td>
              </tr>
            ) : null}
          </Fragment>
        ))}
      </tbody>
    </table>
  );
}

export function VideosPage() {
  const [status, setStatus] = useState<(typeof STATUSES)[number]>('');
  const [cursors, setCursors] = useState<string[]>([]);
  const statusId = useId();
  const cursor = cursors.at(-1);
  const jobs = useApi<{ jobs: VideoJob[]; nextCursor: string | null }>(
    `/v1/admin/videos?limit=50${status ? `&status=${status}` : ''}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
  );
  return (
    <>
      <h1>Video jobs</h1>
      <div className="toolbar">
        <label htmlFor={statusId}>Status</label>
        <select
          id={statusId}
          value={status}
          onChange={(event) => {
            setStatus(event.target.value as (typeof STATUSES)[number]);
            setCursors([]);
          }}
        >
          {STATUSES.map((value) => (
            <option key={value} value={value}>
              {value === '' ? 'Any' : value}
            </option>
          ))}
        </select>
      </div>
      <Async loaded={jobs}>
        {(data) => (
          <>
            <VideoTable jobs={data.jobs} showUser />
            <div className="pager">
              <button
                type="button"
                disabled={cursors.length === 0}
                onClick={() => setCursors(cursors.slice(0, -1))}
              >
                Newer
              </button>
              <button
                type="button"
                disabled={data.nextCursor === null}
                onClick={() => data.nextCursor && setCursors([...cursors, data.nextCursor])}
              >
                Older
              </button>
            </div>
          </>
        )}
      </Async>
    </>
  );
}
