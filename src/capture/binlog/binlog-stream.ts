/**
 * A live binlog stream: one mysql2 connection that asks the server for its binlog from a position
 * (COM_BINLOG_DUMP) and hands every event, decoded, to an async iterator. mysql2's own binlog
 * command is not used (it crashes on some events, FACTS.md); ours only forwards the raw bytes.
 * Memory is bounded: when the consumer falls behind, the socket is paused (backpressure) and
 * resumed when the queue drains. Reconnecting is the caller's job (one retry loop per job).
 */
import { EventEmitter } from 'node:events';
import mysql from 'mysql2';
import { TransientError } from '../../core/index.ts';
import { classifyMysqlError } from '../mysql-errors.ts';
import { BinlogDecoder } from './decoder.ts';
import type { BinlogEvent } from './events.ts';

export interface BinlogStreamOptions {
  /** `mysql://user:password@host:port/` */
  readonly url: string;
  /** Our replica server id: unique among the server's replicas, not 0. */
  readonly serverId: number;
  readonly logFile: string;
  readonly logPosition: number;
  /** Ask for a heartbeat after this much silence (default 1 s). */
  readonly heartbeatMs?: number;
  /** Pause the socket above this many queued bytes (default 16 MiB). */
  readonly highWaterBytes?: number;
  readonly signal?: AbortSignal;
  /** Decode only the key columns of updates' before images (BinlogDecoderOptions). */
  readonly keyOnlyBeforeImages?: boolean;
  /** Filled while streaming: the most bytes ever queued, and how often the socket was paused. */
  readonly stats?: { maxQueuedBytes: number; pauses: number };
}

/** An event with where it sits: the binlog file it belongs to. */
export interface StreamedEvent {
  readonly event: BinlogEvent;
  readonly logFile: string;
}

interface Mysql2Packet {
  buffer: Buffer;
  offset: number;
  end: number;
  isError(): boolean;
  isEOF(): boolean;
  asError(encoding?: string): Error;
}

interface Mysql2Connection {
  addCommand(cmd: unknown): void;
  writePacket(packet: unknown): void;
  _resetSequenceId(): void;
  pause(): void;
  resume(): void;
  destroy(): void;
  stream?: { destroy(): void };
  query(sql: string, cb: (err: Error | null, rows?: unknown) => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
  on(event: 'end', cb: () => void): void;
}

/** COM_BINLOG_DUMP as a mysql2 command: writes the request, then forwards each event packet. */
class DumpCommand extends EventEmitter {
  readonly #request: Buffer;
  #started = false;

  constructor(logFile: string, logPosition: number, serverId: number) {
    super();
    const name = Buffer.from(logFile, 'utf8');
    const payload = Buffer.alloc(1 + 4 + 2 + 4 + name.length);
    payload[0] = 0x12; // COM_BINLOG_DUMP
    payload.writeUInt32LE(logPosition, 1);
    payload.writeUInt16LE(0, 5); // flags: block at the end of the binlog and wait
    payload.writeUInt32LE(serverId, 7);
    name.copy(payload, 11);
    this.#request = Buffer.concat([Buffer.alloc(4), payload]);
  }

  // mysql2 calls execute(null) when the command starts, then once per packet; true ends the command.
  execute(packet: Mysql2Packet | null, connection: Mysql2Connection): boolean {
    if (!this.#started) {
      this.#started = true;
      connection._resetSequenceId();
      const buffer = this.#request;
      connection.writePacket({
        buffer,
        length: () => buffer.length - 4,
        writeHeader: (sequenceId: number) => {
          buffer.writeUIntLE(buffer.length - 4, 0, 3);
          buffer[3] = sequenceId;
        },
      });
      return false;
    }
    if (!packet) return false;
    if (packet.isError()) {
      this.emit('error', packet.asError());
      return true;
    }
    if (packet.isEOF()) {
      this.emit('eof');
      return true;
    }
    // Skip the OK byte; the rest is one whole event (mysql2 has joined packets over 16 MiB).
    this.emit('event', packet.buffer.subarray(packet.offset + 1, packet.end));
    return false;
  }
}

function query(conn: Mysql2Connection, sql: string): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) =>
    conn.query(sql, (err, rows) => (err ? reject(err) : resolve((rows ?? []) as Record<string, unknown>[]))),
  );
}

/**
 * Streams events from (logFile, logPosition) until the signal aborts or the connection fails
 * (a TransientError: reconnect from your last checkpoint).
 */
export async function* streamBinlog(options: BinlogStreamOptions): AsyncGenerator<StreamedEvent> {
  const highWater = options.highWaterBytes ?? 16 * 1024 * 1024;
  const raw = mysql.createConnection({ uri: options.url, supportBigNumbers: true, bigNumberStrings: true });
  const conn = raw as unknown as Mysql2Connection;
  const queue: Buffer[] = [];
  let queuedBytes = 0;
  let paused = false;
  const state: { failure: Error | null } = { failure: null };
  let done = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const fail = (err: Error) => {
    state.failure ??= err;
    notify();
  };
  conn.on('error', fail);
  conn.on('end', () =>
    fail(
      new TransientError('SOURCE_CONNECTION', 'the server closed the replication connection (restarted?)'),
    ),
  );
  const onAbort = () => notify();
  options.signal?.addEventListener('abort', onAbort);
  try {
    const [settings] = await query(
      conn,
      'SELECT @@global.binlog_checksum AS checksum, VERSION() AS version',
    ).catch((err: unknown) => {
      throw classifyMysqlError(err, 'connecting for the binlog stream');
    });
    const checksum = typeof settings?.checksum === 'string' && settings.checksum.toUpperCase() === 'CRC32';
    // Tell the server we understand its checksums (both names: MariaDB/older MySQL, MySQL ≥ 8.0.26),
    // that we want MariaDB GTID events, and how often to send a heartbeat when idle.
    await query(
      conn,
      'SET @master_binlog_checksum = @@global.binlog_checksum, @source_binlog_checksum = @@global.binlog_checksum',
    );
    await query(conn, 'SET @mariadb_slave_capability = 4');
    const heartbeatNs = BigInt(options.heartbeatMs ?? 1000) * 1_000_000n;
    await query(
      conn,
      `SET @master_heartbeat_period = ${heartbeatNs}, @source_heartbeat_period = ${heartbeatNs}`,
    );

    const decoder = new BinlogDecoder({ checksum, keyOnlyBeforeImages: options.keyOnlyBeforeImages });
    const dump = new DumpCommand(options.logFile, options.logPosition, options.serverId);
    dump.on('event', (buf: Buffer) => {
      queue.push(buf);
      queuedBytes += buf.length;
      if (options.stats) options.stats.maxQueuedBytes = Math.max(options.stats.maxQueuedBytes, queuedBytes);
      if (!paused && queuedBytes > highWater) {
        paused = true;
        if (options.stats) options.stats.pauses++;
        conn.pause();
      }
      notify();
    });
    dump.on('error', fail);
    dump.on('eof', () => {
      done = true;
      notify();
    });
    conn.addCommand(dump);

    let logFile = options.logFile;
    for (;;) {
      if (options.signal?.aborted) return;
      const buf = queue.shift();
      if (buf === undefined) {
        if (state.failure) throw classifyMysqlError(state.failure, `binlog stream from ${logFile}`);
        if (done) return;
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      queuedBytes -= buf.length;
      if (paused && queuedBytes < highWater / 2) {
        paused = false;
        conn.resume();
      }
      const header = buf.readUInt32LE(13);
      const size = buf.readUInt32LE(9);
      // Artificial events (the first rotate, the format event when not at 4) have no real position.
      const position = header === 0 ? 0 : header - size;
      const event = decoder.decode(buf, position);
      if (event.kind === 'rotate') logFile = event.nextFile;
      yield { event, logFile };
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    // mysql2's destroy() only half-closes the socket; a dump connection then stays open for as long
    // as the server keeps sending heartbeats. Close it for real.
    conn.destroy();
    conn.stream?.destroy();
  }
}
