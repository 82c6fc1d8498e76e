/**
 * A small stand-in for Cloud Storage's JSON API, in this process, for the parts the official
 * client uses here: list (paged), media download, multipart upload. Cloud Storage cannot run on
 * this machine; this lets the tests drive the real `@google-cloud/storage` client over HTTP (its
 * paging, checksums and error handling) against known objects. It is not a test of Google's
 * servers: docs/deploy-gcp.md says what was not run.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC32C (Castagnoli), base64 of the big-endian value, as Cloud Storage reports it. */
export function crc32c(data: Buffer): string {
  let c = 0xffffffff;
  for (const b of data) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

export interface FakeGcs extends AsyncDisposable {
  readonly endpoint: string;
  /** bucket -> object name -> bytes */
  readonly buckets: Map<string, Map<string, Buffer>>;
  /** Every request, `METHOD path` (for assertions on paging). */
  readonly requests: string[];
  /** Answer every request on this bucket with this HTTP status (403, 500…), or undefined. */
  failBucket: { bucket: string; status: number } | undefined;
}

function resource(bucket: string, name: string, data: Buffer) {
  return {
    kind: 'storage#object',
    bucket,
    name,
    id: `${bucket}/${name}/1`,
    generation: '1',
    size: String(data.length),
    md5Hash: createHash('md5').update(data).digest('base64'),
    crc32c: crc32c(data),
  };
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startFakeGcs(pageSize = 2): Promise<FakeGcs> {
  const buckets = new Map<string, Map<string, Buffer>>();
  const requests: string[] = [];
  const state: { failBucket: FakeGcs['failBucket'] } = { failBucket: undefined };
  const json = (res: ServerResponse, status: number, value: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url!, 'http://x');
      requests.push(`${req.method} ${url.pathname}`);
      const m = /^(?:\/upload)?\/storage\/v1\/b\/([^/]+)\/o(?:\/(.+))?$/.exec(url.pathname);
      if (!m) return json(res, 404, { error: { code: 404, message: 'Not Found' } });
      const bucketName = decodeURIComponent(m[1]!);
      if (state.failBucket?.bucket === bucketName) {
        const { status } = state.failBucket;
        await body(req);
        return json(res, status, { error: { code: status, message: `fake failure ${status}` } });
      }
      const bucket = buckets.get(bucketName);
      if (!bucket)
        return json(res, 404, { error: { code: 404, message: 'The specified bucket does not exist.' } });
      if (req.method === 'GET' && !m[2]) {
        const prefix = url.searchParams.get('prefix') ?? '';
        const names = [...bucket.keys()].filter((n) => n.startsWith(prefix)).sort();
        const from = Number(url.searchParams.get('pageToken') ?? '0');
        const page = names.slice(from, from + pageSize);
        return json(res, 200, {
          kind: 'storage#objects',
          items: page.map((n) => resource(bucketName, n, bucket.get(n)!)),
          ...(from + pageSize < names.length ? { nextPageToken: String(from + pageSize) } : {}),
        });
      }
      if (req.method === 'GET' && m[2]) {
        const name = decodeURIComponent(m[2]);
        const data = bucket.get(name);
        if (!data) return json(res, 404, { error: { code: 404, message: `No such object: ${name}` } });
        if (url.searchParams.get('alt') !== 'media') return json(res, 200, resource(bucketName, name, data));
        const r = resource(bucketName, name, data);
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'x-goog-hash': `crc32c=${r.crc32c},md5=${r.md5Hash}`,
          'x-goog-stored-content-length': String(data.length),
        });
        return res.end(data);
      }
      if (req.method === 'POST' && url.searchParams.get('uploadType') === 'multipart') {
        const raw = await body(req);
        const boundary = /boundary="?([^";]+)"?/.exec(req.headers['content-type'] ?? '')?.[1];
        if (!boundary) return json(res, 400, { error: { code: 400, message: 'no boundary' } });
        // Two parts: the metadata (JSON), then the bytes.
        const sep = Buffer.from(`--${boundary}`);
        const parts: Buffer[] = [];
        let at = raw.indexOf(sep);
        while (at >= 0) {
          const next = raw.indexOf(sep, at + sep.length);
          if (next < 0) break;
          parts.push(raw.subarray(at + sep.length + 2, next - 2));
          at = next;
        }
        const split = (p: Buffer) => p.subarray(p.indexOf('\r\n\r\n') + 4);
        const meta = JSON.parse(split(parts[0]!).toString()) as { name?: string };
        const name = meta.name ?? url.searchParams.get('name');
        if (!name) return json(res, 400, { error: { code: 400, message: 'no object name' } });
        const data = Buffer.from(split(parts[1]!));
        bucket.set(name, data);
        return json(res, 200, resource(bucketName, name, data));
      }
      return json(res, 400, { error: { code: 400, message: `unsupported ${req.method} ${url.pathname}` } });
    })().catch((err: unknown) => json(res, 500, { error: { code: 500, message: String(err) } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    buckets,
    requests,
    get failBucket() {
      return state.failBucket;
    },
    set failBucket(v) {
      state.failBucket = v;
    },
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
