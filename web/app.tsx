/**
 * The tabletime page: the captured tables and how fresh they are; a table as of any moment, or
 * what changed between two moments; one record's timeline. Preact (3 kB, the React API without
 * its weight), bundled at install time; it talks only to this server's /api.
 * State lives in the address (#/t/shop/orders/record?key=id%3D42), so a view can be bookmarked.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';

// ---- the API ------------------------------------------------------------------------------

interface TableInfo {
  database: string;
  table: string;
  versions: number;
  records: number;
  lastCommit: string | null;
  columns: { name: string; type: string }[];
  primaryKeys: string[];
}
interface Pipeline {
  capturedUpTo: string | null;
  lagSeconds: number | null;
  pendingEvents: number;
  pendingFiles: number;
}
type Item = Record<string, unknown>;
interface Page {
  columns: string[];
  rows: Item[];
  next: string | null;
}

/** Off loopback the server wants a bearer token: asked once, kept for this tab only. */
const TOKEN = 'tabletime-token';

async function api<T>(path: string): Promise<T> {
  const token = sessionStorage.getItem(TOKEN);
  const res = await fetch(path, {
    headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  if (res.status === 401) {
    sessionStorage.removeItem(TOKEN);
    dispatchEvent(new Event('tabletime-unauthorized'));
  }
  const body = (await res.json()) as T & { error?: { code: string; message: string } };
  if (!res.ok) throw new Error(body.error?.message ?? `HTTP ${res.status}`);
  return body;
}

function TokenForm() {
  const [value, setValue] = useState('');
  return (
    <form
      class="controls"
      onSubmit={(e) => {
        e.preventDefault();
        sessionStorage.setItem(TOKEN, value.trim());
        location.reload();
      }}
    >
      <label>
        This server asks for its access token{' '}
        <input
          type="password"
          name="token"
          value={value}
          required
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
        />
      </label>
      <button type="submit">Continue</button>
    </form>
  );
}

/** Loads `path` (null: nothing to load yet); reloads when it changes. */
function useApi<T>(path: string | null): { data: T | null; error: string | null; loading: boolean } {
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean }>({
    data: null,
    error: null,
    loading: path !== null,
  });
  useEffect(() => {
    if (path === null) return;
    let live = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    api<T>(path).then(
      (data) => live && setState({ data, error: null, loading: false }),
      (err: unknown) =>
        live && setState({ data: null, error: String((err as Error).message), loading: false }),
    );
    return () => {
      live = false;
    };
  }, [path]);
  return state;
}

// ---- time ---------------------------------------------------------------------------------

const pad = (n: number) => String(n).padStart(2, '0');
/** A datetime-local input's value for a Date (local time, to the second). */
const localInput = (d: Date) =>
  `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
/** A datetime-local value (local time) as ISO-8601 UTC for the API. */
const toIso = (local: string) => new Date(local).toISOString();
const shown = (iso: string | null) =>
  iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }) : '—';
const clock = (iso: string) => new Date(iso).toLocaleTimeString(undefined, { timeStyle: 'medium' });

// ---- the address --------------------------------------------------------------------------

interface Route {
  db?: string;
  table?: string;
  tab: 'tables' | 'as-of' | 'diff' | 'record';
  params: URLSearchParams;
}

function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  if (parts[0] === 't' && parts[1] && parts[2]) {
    const tab = parts[3] === 'diff' || parts[3] === 'record' ? parts[3] : 'as-of';
    return { db: parts[1], table: parts[2], tab, params };
  }
  return { tab: 'tables', params };
}

const link = (db: string, table: string, tab: string, params?: Record<string, string>) =>
  `#/t/${encodeURIComponent(db)}/${encodeURIComponent(table)}/${tab}${
    params ? `?${new URLSearchParams(params).toString()}` : ''
  }`;

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

// ---- pieces -------------------------------------------------------------------------------

const text = (v: unknown) =>
  v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);

function Value({ v }: { v: unknown }) {
  if (v === null || v === undefined) return <span class="null">empty</span>;
  return <>{text(v)}</>;
}

function Status({ loading, error }: { loading: boolean; error: string | null }) {
  if (error)
    return (
      <p class="error" role="alert">
        {error}
      </p>
    );
  return loading ? (
    <p class="loading" aria-live="polite">
      Loading…
    </p>
  ) : null;
}

function Freshness({ tables, pipeline }: { tables: TableInfo[]; pipeline: Pipeline | null }) {
  if (pipeline?.capturedUpTo) {
    const behind = pipeline.lagSeconds ?? 0;
    return (
      <p class="freshness" aria-live="polite">
        Up to date as of <strong>{clock(pipeline.capturedUpTo)}</strong>
        {behind > 0 ? `, ${behind.toFixed(1)} s behind the database` : ', nothing waiting'}
        {pipeline.pendingEvents > 0 ? ` (${pipeline.pendingEvents} changes on their way)` : ''}.
      </p>
    );
  }
  const last = tables
    .map((t) => t.lastCommit)
    .filter((x): x is string => !!x)
    .sort()
    .pop();
  return (
    <p class="freshness">
      History up to the last change it holds: <strong>{shown(last ?? null)}</strong>.
    </p>
  );
}

/** A labelled date-time picker (local time, to the second). */
function Picker(props: { label: string; name: string; value: string; set: (v: string) => void }) {
  return (
    <label>
      {props.label}{' '}
      <input
        type="datetime-local"
        step={1}
        name={props.name}
        value={props.value}
        onInput={(e) => props.set((e.target as HTMLInputElement).value)}
      />
    </label>
  );
}

// ---- views --------------------------------------------------------------------------------

function TablesView() {
  const { data, error, loading } = useApi<{ tables: TableInfo[]; pipeline: Pipeline | null }>('/api/tables');
  return (
    <section aria-labelledby="tables-title">
      <h1 id="tables-title">Tables</h1>
      <Status loading={loading} error={error} />
      {data && (
        <>
          <Freshness tables={data.tables} pipeline={data.pipeline} />
          <table class="grid">
            <thead>
              <tr>
                <th scope="col">Table</th>
                <th scope="col" class="num">
                  Records now
                </th>
                <th scope="col" class="num">
                  Versions kept
                </th>
                <th scope="col">Last change</th>
              </tr>
            </thead>
            <tbody>
              {data.tables.map((t) => (
                <tr key={`${t.database}.${t.table}`}>
                  <td>
                    <a href={link(t.database, t.table, 'as-of')}>
                      {t.database}.{t.table}
                    </a>
                  </td>
                  <td class="num">{t.records.toLocaleString()}</td>
                  <td class="num">{t.versions.toLocaleString()}</td>
                  <td>{shown(t.lastCommit)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {data.tables.length === 0 && <p>No table has any history yet.</p>}
        </>
      )}
    </section>
  );
}

function Grid({
  columns,
  rows,
  changed,
  caption,
}: {
  columns: string[];
  rows: Item[];
  changed?: (row: Item, column: string) => unknown;
  caption: string;
}) {
  return (
    <div class="scroll" tabIndex={0} role="region" aria-label={caption}>
      <table class="grid">
        <caption class="sr-only">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col" key={c}>
                {c === '_tt_change' ? 'Change' : c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i} class={typeof r._tt_change === 'string' ? `row-${r._tt_change}` : undefined}>
              {columns.map((c) => {
                const before = changed?.(r, c);
                return before === undefined ? (
                  <td key={c}>
                    <Value v={r[c]} />
                  </td>
                ) : (
                  <td key={c} class="changed" title={`was: ${text(before) || 'empty'}`}>
                    <Value v={r[c]} /> <del aria-label="was">{text(before)}</del>
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function AsOfTab({ info, params }: { info: TableInfo; params: URLSearchParams }) {
  const at = params.get('at');
  const [picked, setPicked] = useState(at ? localInput(new Date(at)) : localInput(new Date()));
  const [cursors, setCursors] = useState<string[]>([]);
  const base = `/api/tables/${encodeURIComponent(info.database)}/${encodeURIComponent(info.table)}`;
  const cursor = cursors[cursors.length - 1];
  const path = `${base}/${at ? `as-of?at=${encodeURIComponent(at)}&` : 'current?'}limit=50${
    cursor ? `&cursor=${cursor}` : ''
  }`;
  const { data, error, loading } = useApi<Page>(path);
  useEffect(() => setCursors([]), [at]);
  const go = (iso: string | null) => {
    location.hash = link(info.database, info.table, 'as-of', iso ? { at: iso } : undefined);
  };
  return (
    <section aria-label="The table as of a moment">
      <form
        class="controls"
        onSubmit={(e) => {
          e.preventDefault();
          go(toIso(picked));
        }}
      >
        <Picker label="Show the table as it was at" name="at" value={picked} set={setPicked} />
        <button type="submit">Show</button>
        <button
          type="button"
          onClick={() => {
            setPicked(localInput(new Date()));
            go(null);
          }}
        >
          Now
        </button>
      </form>
      <p class="hint" aria-live="polite">
        {at ? `As it was at ${shown(at)}.` : 'As it is now.'}
      </p>
      <Status loading={loading} error={error} />
      {data && (
        <>
          <Grid
            columns={data.columns}
            rows={data.rows}
            caption={`${info.table} ${at ? `at ${shown(at)}` : 'now'}`}
          />
          {data.rows.length === 0 && <p>No records at that moment.</p>}
          <nav class="pager" aria-label="Pages">
            <button type="button" disabled={cursors.length === 0} onClick={() => setCursors([])}>
              First page
            </button>
            <button
              type="button"
              disabled={!data.next}
              onClick={() => data.next && setCursors([...cursors, data.next])}
            >
              Next page
            </button>
          </nav>
        </>
      )}
    </section>
  );
}

function DiffTab({ info, params }: { info: TableInfo; params: URLSearchParams }) {
  const from = params.get('from');
  const to = params.get('to');
  const hourAgo = new Date(Date.now() - 3_600_000);
  const [a, setA] = useState(from ? localInput(new Date(from)) : localInput(hourAgo));
  const [b, setB] = useState(to ? localInput(new Date(to)) : localInput(new Date()));
  const base = `/api/tables/${encodeURIComponent(info.database)}/${encodeURIComponent(info.table)}`;
  const { data, error, loading } = useApi<Page>(
    from && to
      ? `${base}/diff?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&limit=500`
      : null,
  );
  const counts = { inserted: 0, deleted: 0, changed: 0 };
  for (const r of data?.rows ?? []) counts[r._tt_change as keyof typeof counts]++;
  return (
    <section aria-label="What changed between two moments">
      <form
        class="controls"
        onSubmit={(e) => {
          e.preventDefault();
          location.hash = link(info.database, info.table, 'diff', { from: toIso(a), to: toIso(b) });
        }}
      >
        <Picker label="From" name="from" value={a} set={setA} />
        <Picker label="to" name="to" value={b} set={setB} />
        <button type="submit">Show differences</button>
      </form>
      <Status loading={loading} error={error} />
      {data && (
        <>
          <p class="hint" aria-live="polite">
            Between {shown(from)} and {shown(to)}: {counts.inserted} added, {counts.deleted} deleted,{' '}
            {counts.changed} changed. Changed values are highlighted; the old value is struck through.
          </p>
          <Grid
            columns={['_tt_change', ...info.columns.map((c) => c.name)]}
            rows={data.rows}
            caption="Differences"
            changed={(row, c) => {
              const cols = row._tt_changed as string[];
              const before = row._tt_before as Item | undefined;
              return before && cols.includes(c) ? (before[c] ?? null) : undefined;
            }}
          />
          {data.next && <p class="hint">Only the first 500 differences are shown.</p>}
        </>
      )}
    </section>
  );
}

const OPS: Record<string, string> = {
  INSERT: 'Created',
  'UPDATE-INSERT': 'Changed',
  UPDATE: 'Changed',
  'UPDATE-DELETE': 'Key changed away',
  DELETE: 'Deleted',
  TRUNCATE: 'Deleted (table emptied)',
};

function RecordTab({ info, params }: { info: TableInfo; params: URLSearchParams }) {
  const key = params.get('key');
  const initial = new Map(
    (key ?? '').split(',').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] as const),
  );
  const [values, setValues] = useState<Record<string, string>>(
    Object.fromEntries(info.primaryKeys.map((k) => [k, initial.get(k) ?? ''])),
  );
  const base = `/api/tables/${encodeURIComponent(info.database)}/${encodeURIComponent(info.table)}`;
  const { data, error, loading } = useApi<Page>(
    key ? `${base}/history?key=${encodeURIComponent(key)}&limit=1000` : null,
  );
  const names = info.columns.map((c) => c.name);
  return (
    <section aria-label="One record's history">
      <form
        class="controls"
        onSubmit={(e) => {
          e.preventDefault();
          location.hash = link(info.database, info.table, 'record', {
            key: info.primaryKeys.map((k) => `${k}=${values[k] ?? ''}`).join(','),
          });
        }}
      >
        {info.primaryKeys.map((k) => (
          <label key={k}>
            {k}{' '}
            <input
              name={k}
              value={values[k]}
              required
              onInput={(e) => setValues({ ...values, [k]: (e.target as HTMLInputElement).value })}
            />
          </label>
        ))}
        <button type="submit">Show its history</button>
      </form>
      {info.primaryKeys.length === 0 && (
        <p>This table has no primary key: its records cannot be looked up one by one.</p>
      )}
      <Status loading={loading} error={error} />
      {data && data.rows.length === 0 && <p>No record with that key has ever existed.</p>}
      {data && data.rows.length > 0 && (
        <ol class="timeline" aria-label="Versions, oldest first">
          {data.rows.map((v, i) => {
            const changed = new Set(v._tt_changed as string[]);
            const prev = data.rows[i - 1];
            const deleted = v._tt_deleted === true;
            const op = OPS[String(v._tt_op)] ?? String(v._tt_op);
            return (
              <li key={String(v._tt_version_id)} class={deleted ? 'version deleted' : 'version'}>
                <h3>
                  <span class="op">{op}</span>{' '}
                  <time dateTime={String(v._tt_commit_ts)}>{shown(String(v._tt_commit_ts))}</time>
                </h3>
                {deleted && <p>Deleted. It held, when it was deleted:</p>}
                <dl>
                  {names.map((n) => (
                    <div key={n} class={changed.has(n) && i > 0 ? 'field changed' : 'field'}>
                      <dt>{n}</dt>
                      <dd>
                        <Value v={v[n]} />
                        {changed.has(n) && i > 0 && prev && !prev._tt_deleted && (
                          <>
                            {' '}
                            <del aria-label="was">{text(prev[n])}</del>
                          </>
                        )}
                      </dd>
                    </div>
                  ))}
                </dl>
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}

function TableView({ route }: { route: Route }) {
  const { data, error, loading } = useApi<{ tables: TableInfo[] }>('/api/tables');
  const info = data?.tables.find((t) => t.database === route.db && t.table === route.table);
  const tabs: [Route['tab'], string][] = [
    ['as-of', 'Table at a moment'],
    ['diff', 'Differences'],
    ['record', 'One record'],
  ];
  return (
    <section aria-labelledby="table-title">
      <p>
        <a href="#/">← All tables</a>
      </p>
      <h1 id="table-title">
        {route.db}.{route.table}
      </h1>
      <Status loading={loading} error={error} />
      {data && !info && <p class="error">No history for this table.</p>}
      {info && (
        <>
          <nav class="tabs" aria-label="Views">
            {tabs.map(([tab, label]) => (
              <a
                key={tab}
                href={link(info.database, info.table, tab)}
                aria-current={route.tab === tab ? 'page' : undefined}
              >
                {label}
              </a>
            ))}
          </nav>
          {route.tab === 'as-of' && <AsOfTab info={info} params={route.params} />}
          {route.tab === 'diff' && <DiffTab info={info} params={route.params} />}
          {route.tab === 'record' && <RecordTab info={info} params={route.params} />}
        </>
      )}
    </section>
  );
}

function App() {
  const route = useRoute();
  const [locked, setLocked] = useState(false);
  useEffect(() => {
    const on = () => setLocked(true);
    addEventListener('tabletime-unauthorized', on);
    return () => removeEventListener('tabletime-unauthorized', on);
  }, []);
  if (locked) return <TokenForm />;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <a href="#/" class="brand">
          tabletime
        </a>
        <span>every version of your tables</span>
      </header>
      <main id="main">{route.tab === 'tables' ? <TablesView /> : <TableView route={route} />}</main>
    </>
  );
}

const root = document.getElementById('app')!;
root.textContent = ''; // the "Loading…" placeholder
render(<App />, root);
