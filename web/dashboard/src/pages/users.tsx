import { useEffect, useId, useState } from 'react';
import type { UserRow } from '../api.ts';
import { Async, formatInteger, formatUsd, useApi, When } from '../ui.tsx';

const PAGE = 50;

export function UsersPage() {
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState('');
  const [offset, setOffset] = useState(0);
  const searchId = useId();
  // Ask the server once typing pauses, not on every key.
  useEffect(() => {
    const timer = setTimeout(() => {
      setQuery(search.trim());
      setOffset(0);
    }, 250);
    return () => clearTimeout(timer);
  }, [search]);
  const users = useApi<{ users: UserRow[]; total: number }>(
    `/v1/admin/users?limit=${PAGE}&offset=${offset}${query ? `&search=${encodeURIComponent(query)}` : ''}`,
  );
  return (
    <>
      <h1>Users</h1>
      <search className="toolbar">
        <label htmlFor={searchId}>Search users</label>
        <input
          id={searchId}
          type="search"
          value={search}
          placeholder="part of a user id"
          onChange={(event) => setSearch(event.target.value)}
        />
      </search>
      <Async loaded={users}>
        {(data) => (
          <>
            <p role="status">
              {data.total === 0
                ? 'No users match.'
                : `Showing ${offset + 1}–${offset + data.users.length} of ${data.total} users.`}
            </p>
            {data.users.length > 0 ? (
              <table>
                <thead>
                  <tr>
                    <th scope="col">User</th>
                    <th scope="col" className="number">
                      Credentials
                    </th>
                    <th scope="col" className="number">
                      Invalid
                    </th>
                    <th scope="col" className="number">
                      Video jobs
                    </th>
                    <th scope="col" className="number">
                      Requests this month
                    </th>
                    <th scope="col" className="number">
                      Cost this month
                    </th>
                    <th scope="col">Last activity</th>
                  </tr>
                </thead>
                <tbody>
                  {data.users.map((user) => (
                    <tr key={user.userId}>
                      <th scope="row">
                        <a href={`#/users/${encodeURIComponent(user.userId)}`}>{user.userId}</a>
                      </th>
                      <td className="number">{user.credentials}</td>
                      <td className="number">{user.invalidCredentials}</td>
                      <td className="number">{user.videos}</td>
                      <td className="number">{formatInteger(user.monthRequests)}</td>
                      <td className="number">{formatUsd(user.monthCostUsd)}</td>
                      <td>
                        <When iso={user.lastActivityAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
            <div className="pager">
              <button
                type="button"
                disabled={offset === 0}
                onClick={() => setOffset(Math.max(0, offset - PAGE))}
              >
                Previous
              </button>
              <button
                type="button"
                disabled={offset + data.users.length >= data.total}
                onClick={() => setOffset(offset + PAGE)}
              >
                Next
              </button>
            </div>
          </>
        )}
      </Async>
    </>
  );
}
