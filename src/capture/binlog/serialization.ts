/**
 * MySQL 8.4's tagged GTID event (type 42) is written with mysql::serialization: a format version,
 * the message size and the last non-ignorable field id, then fields as (id, value) with
 * variable-length integers. An integer's byte count is the number of trailing 1-bits of its first
 * byte plus one (nine when all eight are set); the value is the little-endian bytes shifted right
 * by that count. Signed integers have their sign moved to the lowest bit.
 * Fields of Gtid_event: 0 flags, 1 uuid (16 × uint8), 2 gno (int64), 3 tag (string),
 * 4 last_committed, 5 sequence_number, 6 immediate_commit_timestamp, 7 original_commit_timestamp
 * (absent when equal), 8 transaction_length, 9/10 server versions, 11 commit_group_ticket.
 */
import type { ByteReader } from './byte-reader.ts';
import { BinlogFormatError } from './binlog-format-error.ts';

function varUnsigned(r: ByteReader): bigint {
  const first = r.buf[r.pos];
  if (first === undefined) throw new RangeError('integer cut short');
  let ones = 0;
  while (ones < 8 && (first >> ones) & 1) ones++;
  const n = ones + 1;
  if (n === 9) {
    r.skip(1);
    return r.u64();
  }
  const bytes = r.bytes(n);
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v >> BigInt(n);
}

function varSigned(r: ByteReader): bigint {
  const u = varUnsigned(r);
  return u & 1n ? -(u >> 1n) - 1n : u >> 1n;
}

export function readTaggedGtidFields(
  r: ByteReader,
  offset: number,
): { gtid: string; commitTimestampUs: number | null } {
  try {
    varUnsigned(r); // format version
    varUnsigned(r); // message size
    varUnsigned(r); // last non-ignorable field id
    let uuid = '';
    let gno = 0n;
    let tag = '';
    let immediate: bigint | null = null;
    let original: bigint | null = null;
    fields: while (r.remaining > 0) {
      const id = Number(varUnsigned(r));
      switch (id) {
        case 0:
          varUnsigned(r);
          break;
        case 1: {
          const bytes: number[] = [];
          for (let i = 0; i < 16; i++) bytes.push(Number(varUnsigned(r)));
          const hex = Buffer.from(bytes).toString('hex');
          uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
          break;
        }
        case 2:
          gno = varSigned(r);
          break;
        case 3:
          tag = r.bytes(Number(varUnsigned(r))).toString('utf8');
          break;
        case 4:
        case 5:
          varSigned(r);
          break;
        case 6:
          immediate = varUnsigned(r);
          break;
        case 7:
          original = varUnsigned(r);
          break;
        default:
          break fields; // the rest is not needed to place the transaction
      }
    }
    const commit = original ?? immediate;
    return {
      gtid: tag ? `${uuid}:${tag}:${gno}` : `${uuid}:${gno}`,
      commitTimestampUs: commit === null ? null : Number(commit),
    };
  } catch (err) {
    throw new BinlogFormatError(`tagged GTID event is malformed: ${(err as Error).message}`, offset, {
      cause: err,
    });
  }
}
