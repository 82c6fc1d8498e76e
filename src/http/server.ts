/**
 * Serving the API (and the web page, and /metrics, /health, /ready) over HTTP. It binds to
 * 127.0.0.1 unless told otherwise; any other address needs a bearer token (`--token-file`),
 * compared in constant time. No CORS headers (the page is served from the same origin), a strict
 * Content-Security-Policy, GET and HEAD only, no request bodies.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import type { Logger } from 'pino';
import { ConfigError } from '../core/index.ts';
import { errorResponse } from './api.ts';

export interface HttpOptions {
  /** host:port (default 127.0.0.1:8080); port 0 picks a free one. */
  readonly listen?: string;
  /** A file holding the bearer token (required off loopback). */
  readonly tokenFile?: string;
  readonly logger?: Logger;
}

export interface RunningHttp extends AsyncDisposable {
  readonly url: string;
  close(): Promise<void>;
}

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** dist/web (built by `npm run build`), found from src/http or dist/http alike. */
const PAGE_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));

async function loadPage(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const name of ['index.html', 'app.js', 'style.css']) {
    try {
      files.set(name, await readFile(join(PAGE_DIR, name), 'utf8'));
    } catch {
      // not built: answered with a message
    }
  }
  return files;
}

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535)
    throw new ConfigError('USAGE', `--http '${text}' is not host:port (e.g. 127.0.0.1:8080)`);
  return { host: m[1] ?? m[2]!, port };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Compares a presented token with the expected one without leaking, by timing, how much matched. */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

async function readToken(path: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    throw new ConfigError('HTTP_TOKEN', `cannot read --token-file ${path}: ${(err as Error).message}`);
  }
  if (token.length < 16)
    throw new ConfigError(
      'HTTP_TOKEN',
      `the token in ${path} is shorter than 16 characters: use a long random one (openssl rand -hex 32)`,
    );
  return token;
}

/**
 * Wraps the application with the server's rules (token, methods, headers) and listens. `app`
 * answers /api/…, the page and /metrics; /health and /ready are answered here, without a token,
 * so that a load balancer can probe them.
 */
export async function startHttp(
  // Any Hono application (the API is an OpenAPIHono).
  app: { fetch: (request: Request) => Response | Promise<Response> },
  options: HttpOptions & { ready?: () => Promise<boolean> },
): Promise<RunningHttp> {
  const { host, port } = parseListen(options.listen ?? '127.0.0.1:8080');
  const token = options.tokenFile ? await readToken(options.tokenFile) : null;
  if (!isLoopback(host) && !token)
    throw new ConfigError(
      'HTTP_TOKEN',
      `--http ${host}:${port} is reachable from other machines: give a bearer token with --token-file FILE`,
    );
  const root = new Hono();
  root.use(async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD')
      c.res = c.json({ error: { code: 'METHOD', message: 'this API is read-only: use GET' } }, 405);
    else if (Number(c.req.header('content-length') ?? 0) > 0)
      c.res = c.json({ error: { code: 'BODY', message: 'requests carry no body' } }, 413);
    else await next();
    // On every answer, whoever made it (the API's responses are its own Response objects).
    c.res.headers.set('X-Content-Type-Options', 'nosniff');
    c.res.headers.set('Referrer-Policy', 'no-referrer');
    c.res.headers.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  });
  root.get('/health', (c) => c.json({ status: 'ok' }));
  // The page (static, holds no data: its API calls carry the token).
  const page = await loadPage();
  const asset = (name: string, type: string) => (c: Context) => {
    const body = page.get(name);
    if (!body)
      return c.json(
        { error: { code: 'PAGE_NOT_BUILT', message: 'the web page is not built: run npm run build' } },
        503,
      );
    return c.body(body, 200, { 'content-type': type, 'cache-control': 'no-cache' });
  };
  root.get('/', asset('index.html', 'text/html; charset=utf-8'));
  root.get('/assets/app.js', asset('app.js', 'text/javascript; charset=utf-8'));
  root.get('/assets/style.css', asset('style.css', 'text/css; charset=utf-8'));
  root.get('/ready', async (c) =>
    (await (options.ready?.() ?? Promise.resolve(true)))
      ? c.json({ status: 'ready' })
      : c.json({ status: 'starting' }, 503),
  );
  root.use(async (c, next) => {
    if (token) {
      const auth = c.req.header('authorization') ?? '';
      const presented = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
      if (!tokenMatches(presented, token)) {
        c.header('WWW-Authenticate', 'Bearer');
        return c.json(
          {
            error: {
              code: 'UNAUTHORIZED',
              message: 'send Authorization: Bearer <the token in --token-file>',
            },
          },
          401,
        );
      }
    }
    await next();
  });
  root.all('*', (c) => app.fetch(c.req.raw));
  root.onError((err, c) => errorResponse(c, err));

  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: root.fetch, hostname: host, port }, () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new ConfigError('HTTP_LISTEN', `${host}:${port} is in use: choose another --http port`)
          : err,
      ),
    );
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
  options.logger?.info({ url, token: token ? 'required' : 'none' }, 'HTTP API listening');
  const close = () =>
    new Promise<void>((resolve) => {
      if ('closeAllConnections' in server) server.closeAllConnections();
      server.close(() => resolve());
    });
  return { url, close, [Symbol.asyncDispose]: close };
}
