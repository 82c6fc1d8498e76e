/**
 * Text from bytes by the column's collation id (from the table map's charset metadata). Collation
 * 63 is `binary`: such columns are bytes, not text. MySQL's `latin1` is Windows-1252, which is what
 * the WHATWG decoder gives for the label 'latin1' (Buffer's 'latin1' would be ISO-8859-1).
 */
import { TextDecoder } from 'node:util';
import mysql from 'mysql2';

export const BINARY_COLLATION = 63;

const encodings = mysql.CharsetToEncoding as unknown as readonly (string | undefined)[];
const decoders = new Map<string, TextDecoder | null>();

function decoderFor(encoding: string): TextDecoder | null {
  let d = decoders.get(encoding);
  if (d === undefined) {
    try {
      d = new TextDecoder(encoding === 'cp1252' ? 'windows-1252' : encoding);
    } catch {
      d = null; // an encoding TextDecoder does not know: read as UTF-8
    }
    decoders.set(encoding, d);
  }
  return d;
}

/** Node encoding name of a collation id; 'utf8' for unknown ids (MariaDB's newer collations are UTF-8). */
export function encodingOf(collation: number | undefined): string {
  if (collation === undefined) return 'utf8';
  return encodings[collation] ?? 'utf8';
}

/** UTF-8 text of bytes, without copying them first (Buffer.from(Uint8Array) copies). */
function utf8(bytes: Uint8Array): string {
  return (
    Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  ).toString('utf8');
}

export function decodeText(bytes: Uint8Array, collation: number | undefined): string {
  const encoding = encodingOf(collation);
  if (encoding === 'utf8' || encoding === 'cesu8' || encoding === 'ascii') return utf8(bytes);
  const d = decoderFor(encoding);
  return d ? d.decode(bytes) : utf8(bytes);
}

/** Bytes per character, to turn a VARCHAR's byte length back into its declared length. */
export function maxBytesPerChar(collation: number | undefined): number {
  const e = encodingOf(collation);
  if (e === 'utf8')
    return collation === 33 || (collation !== undefined && collation >= 192 && collation <= 223) ? 3 : 4;
  if (e === 'ucs2') return 2;
  if (e === 'utf16' || e === 'utf16le' || e === 'utf32') return 4;
  return 1;
}
