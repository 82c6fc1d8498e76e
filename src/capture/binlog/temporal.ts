/**
 * MySQL's packed temporal formats in rows events, decoded to the canonical text of
 * src/core/values.ts without ever going through a Date in a local time zone.
 * DATETIME2/TIME2/TIMESTAMP2 (MySQL 5.6+, MariaDB 10.1+ with mysql56_temporal_format) are
 * big-endian; their fraction takes (fsp + 1) / 2 bytes.
 */
const pad = (n: number | bigint, w = 2) => String(n).padStart(w, '0');

export function fracBytes(fsp: number): number {
  return Math.floor((fsp + 1) / 2);
}

/** The fraction as microseconds: 1 byte = hundredths, 2 = ten-thousandths, 3 = micros. */
function readFrac(buf: Buffer, pos: number, fsp: number): number {
  switch (fracBytes(fsp)) {
    case 1:
      return buf[pos]! * 10_000;
    case 2:
      return buf.readUInt16BE(pos) * 100;
    case 3:
      return buf.readUIntBE(pos, 3);
    default:
      return 0;
  }
}

function fracText(micros: number, fsp: number): string {
  return fsp > 0 ? `.${pad(micros, 6).slice(0, fsp)}` : '';
}

/** DATE and NEWDATE: 3 bytes little-endian, day:5 month:4 year:15. Zero dates stay zero. */
export function decodeDate(v: number): string {
  return `${pad(v >> 9, 4)}-${pad((v >> 5) & 15)}-${pad(v & 31)}`;
}

export function decodeDatetime2(buf: Buffer, pos: number, fsp: number): string {
  const intPart = buf.readUIntBE(pos, 5) - 0x8000000000;
  const ymd = Math.floor(intPart / 2 ** 17);
  const hms = intPart % 2 ** 17;
  const ym = ymd >> 5;
  const text =
    `${pad(Math.floor(ym / 13), 4)}-${pad(ym % 13)}-${pad(ymd % 32)} ` +
    `${pad(hms >> 12)}:${pad((hms >> 6) % 64)}:${pad(hms % 64)}`;
  return text + fracText(readFrac(buf, pos + 5, fsp), fsp);
}

/** Old DATETIME: 8 bytes little-endian holding YYYYMMDDhhmmss as a decimal number. */
export function decodeDatetimeOld(v: bigint): string {
  const s = v.toString().padStart(14, '0');
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)} ${s.slice(8, 10)}:${s.slice(10, 12)}:${s.slice(12, 14)}`;
}

/** TIMESTAMP2: seconds since the epoch (big-endian) and a fraction; 0 is the zero timestamp. */
export function decodeTimestamp2(buf: Buffer, pos: number, fsp: number): string {
  const seconds = buf.readUInt32BE(pos);
  const micros = readFrac(buf, pos + 4, fsp);
  return timestampText(seconds, micros, fsp);
}

// The text of the last second seen: a transaction's timestamps mostly share their second.
let lastSeconds = -1;
let lastSecondText = '';

export function timestampText(seconds: number, micros: number, fsp: number): string {
  if (seconds === 0 && micros === 0) return `0000-00-00T00:00:00${fracText(0, fsp)}Z`;
  if (seconds !== lastSeconds) {
    const d = new Date(seconds * 1000);
    lastSecondText =
      `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
    lastSeconds = seconds;
  }
  return `${lastSecondText}${fracText(micros, fsp)}Z`;
}

/**
 * TIME2 (sql-common/my_time.cc, my_time_packed_from_binary): 3 bytes of sign+hh:mm:ss offset by
 * 0x800000, then the fraction; for negative times with a fraction, the integer part is borrowed from.
 */
export function decodeTime2(buf: Buffer, pos: number, fsp: number): string {
  let packed: bigint;
  switch (fracBytes(fsp)) {
    case 0:
      packed = BigInt(buf.readUIntBE(pos, 3) - 0x800000) << 24n;
      break;
    case 1: {
      let intPart = buf.readUIntBE(pos, 3) - 0x800000;
      let frac = buf[pos + 3]!;
      if (intPart < 0 && frac !== 0) {
        intPart++;
        frac -= 0x100;
      }
      packed = (BigInt(intPart) << 24n) + BigInt(frac * 10_000);
      break;
    }
    case 2: {
      let intPart = buf.readUIntBE(pos, 3) - 0x800000;
      let frac = buf.readUInt16BE(pos + 3);
      if (intPart < 0 && frac !== 0) {
        intPart++;
        frac -= 0x10000;
      }
      packed = (BigInt(intPart) << 24n) + BigInt(frac * 100);
      break;
    }
    default:
      packed = BigInt(buf.readUIntBE(pos, 6)) - 0x800000000000n;
  }
  const negative = packed < 0n;
  if (negative) packed = -packed;
  const hms = Number(packed >> 24n);
  const micros = Number(packed % (1n << 24n));
  const text = `${negative ? '-' : ''}${pad((hms >> 12) % 1024)}:${pad((hms >> 6) % 64)}:${pad(hms % 64)}`;
  return text + fracText(micros, fsp);
}

/** Old TIME: 3 bytes little-endian, signed, holding [-]HHMMSS as a decimal number. */
export function decodeTimeOld(raw: number): string {
  const v = raw & 0x800000 ? raw - 0x1000000 : raw;
  const abs = Math.abs(v);
  return `${v < 0 ? '-' : ''}${pad(Math.floor(abs / 10000))}:${pad(Math.floor(abs / 100) % 100)}:${pad(abs % 100)}`;
}
