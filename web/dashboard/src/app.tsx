import { type FormEvent, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, api, storedToken, storeToken } from './api.ts';
import { AuditPage } from './pages/audit.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { UsagePage } from './pages/usage.tsx';
import { UserPage } from './pages/user.tsx';
import { UsersPage } from './pages/users.tsx';
import { VideosPage } from './pages/videos.tsx';
import { WebhooksPage } from './pages/webhooks.tsx';
import { SessionContext } from './ui.tsx';

/** Sign-in with the admin token, then a hash-routed set of pages (#/users/alice): no server routing needed. */
const NAV = [
  { path: '/', label: 'Overview' },
  { path: '/usage', label: 'Usage' },
  { path: '/users', label: 'Users' },
  { path: '/videos', label: 'Video jobs' },
  { path: '/webhooks', label: 'Webhooks' },
  { path: '/audit', label: 'Audit log' },
] as const;

function currentPath(): string {
  const hash = window.location.hash.replace(/^#/, '');
  return hash.startsWith('/') ? hash : '/';
}

function useRoute(): string {
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    const update = () => setPath(currentPath());
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return path;
}

function SignIn({ onSignedIn, notice }: { onSignedIn: (token: string) => void; notice: string | null }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const token = input.current?.value.trim() ?? '';
    if (token === '') {
      setError('Enter the admin token.');
      input.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api(token, '/v1/admin/overview');
      if (input.current) input.current.value = '';
      onSignedIn(token);
    } catch (caught) {
      setError(
        caught instanceof ApiError && (caught.status === 401 || caught.status === 404)
          ? 'That token was not accepted. Use the admin token (KEYHAVEN_ADMIN_TOKEN, or the one printed on first start).'
          : caught instanceof Error
            ? caught.message
            : 'Sign-in failed.',
      );
      input.current?.focus();
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="sign-in">
      <h1>Keyhaven dashboard</h1>
      {notice ? (
        <p className="notice" role="status">
          {notice}
        </p>
      ) : null}
      <form onSubmit={submit} noValidate>
        <label htmlFor="admin-token">Admin token</label>
        <input
          id="admin-token"
          ref={input}
          type="password"
          autoComplete="off"
          spellCheck={false}
          aria-invalid={error !== null}
          aria-describedby="admin-token-hint admin-token-error"
        />
        <p id="admin-token-hint" className="muted">
          Kept in this tab only (session storage) and sent to this server only.
        </p>
        <p id="admin-token-error" className="error" role="alert">
          {error}
        </p>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

function Page({ path }: { path: string }) {
  const user = /^\/users\/(.+)$/.exec(path);
  if (user?.[1]) return <UserPage userId={decodeURIComponent(user[1])} />;
  switch (path) {
    case '/usage':
      return <UsagePage />;
    case '/users':
      return <UsersPage />;
    case '/videos':
      return <VideosPage />;
    case '/webhooks':
      return <WebhooksPage />;
    case '/audit':
      return <AuditPage />;
    default:
      return <OverviewPage />;
  }
}

export function App() {
  const [token, setToken] = useState<string | null>(storedToken);
  const [notice, setNotice] = useState<string | null>(null);
  const path = useRoute();
  const main = useRef<HTMLElement>(null);

  const signOut = useCallback((reason: string | null = null) => {
    storeToken(null);
    setToken(null);
    setNotice(reason);
  }, []);
  const session = useMemo(
    () => (token === null ? null : { token, signOut: () => signOut('Your session ended: sign in again.') }),
    [token, signOut],
  );

  // After navigation, focus the page's main region so keyboard and screen reader users start there.
  useEffect(() => {
    if (path !== '/' || window.location.hash !== '') main.current?.focus();
  }, [path]);

  if (session === null) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(value) => {
          storeToken(value);
          setNotice(null);
          setToken(value);
        }}
      />
    );
  }
  const section = path.startsWith('/users/') ? '/users' : path;
  return (
    <SessionContext.Provider value={session}>
      <button type="button" className="skip" onClick={() => main.current?.focus()}>
        Skip to content
      </button>
      <header className="top">
        <span className="brand">Keyhaven</span>
        <nav aria-label="Dashboard">
          <ul>
            {NAV.map((item) => (
              <li key={item.path}>
                <a href={`#${item.path}`} aria-current={section === item.path ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" onClick={() => signOut('You signed out.')}>
          Sign out
        </button>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Page path={path} />
      </main>
    </SessionContext.Provider>
  );
}
