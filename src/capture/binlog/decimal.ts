/**
 * MySQL's binary DECIMAL (strings/decimal.cc, decimal2bin): groups of 9 digits in 4 bytes, the
 * leftover digits in 1–4 bytes, big-endian, the sign in the top bit of the first byte (set for
 * positive; a negative value has every byte inverted). Decoded to exact digits, never a double.
 */
const DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4] as const;

export function decimalSize(precision: number, scale: number): number {
  const intg = precision - scale;
  return Math.floor(intg / 9) * 4 + DIG2BYTES[intg % 9]! + Math.floor(scale / 9) * 4 + DIG2BYTES[scale % 9]!;
}

export function decodeDecimal(src: Uint8Array, precision: number, scale: number): string {
  const size = decimalSize(precision, scale);
  const buf = Buffer.from(src.subarray(0, size)); // a copy: the sign flip below must not touch the event
  const negative = (buf[0]! & 0x80) === 0;
  buf[0] = buf[0]! ^ 0x80;
  if (negative) for (let i = 0; i < size; i++) buf[i] = buf[i]! ^ 0xff;
  const intg = precision - scale;
  const intg0 = Math.floor(intg / 9);
  const intg0x = intg % 9;
  const frac0 = Math.floor(scale / 9);
  const frac0x = scale % 9;
  let pos = 0;
  const read = (n: number): number => {
    const v = n === 0 ? 0 : buf.readUIntBE(pos, n);
    pos += n;
    return v;
  };
  let intPart = '';
  if (intg0x > 0) intPart += String(read(DIG2BYTES[intg0x]!));
  for (let i = 0; i < intg0; i++) intPart += String(read(4)).padStart(9, '0');
  let frac = '';
  for (let i = 0; i < frac0; i++) frac += String(read(4)).padStart(9, '0');
  if (frac0x > 0) frac += String(read(DIG2BYTES[frac0x]!)).padStart(frac0x, '0');
  intPart = intPart.replace(/^0+(?=\d)/, '') || '0';
  const text = scale > 0 ? `${intPart}.${frac}` : intPart;
  return negative && /[1-9]/.test(text) ? `-${text}` : text;
}
