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

/** `n` bytes big-endian from `pos`, each XORed with `mask`, the first one's sign bit flipped. */
function groupAt(src: Uint8Array, pos: number, n: number, mask: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + ((pos + i === 0 ? src[0]! ^ 0x80 : src[pos + i]!) ^ mask);
  return v;
}

export function decodeDecimal(src: Uint8Array, precision: number, scale: number): string {
  const size = decimalSize(precision, scale);
  if (src.length < size)
    throw new RangeError(`decimal(${precision},${scale}) needs ${size} bytes, has ${src.length}`);
  const negative = (src[0]! & 0x80) === 0;
  // Read in place (no copy): the first byte's sign bit flipped, every byte inverted if negative.
  const mask = negative ? 0xff : 0;
  let pos = 0;
  const intg = precision - scale;
  const intg0 = Math.floor(intg / 9);
  const intg0x = intg % 9;
  const frac0 = Math.floor(scale / 9);
  const frac0x = scale % 9;
  let intPart = '';
  if (intg0x > 0) {
    intPart += String(groupAt(src, pos, DIG2BYTES[intg0x]!, mask));
    pos += DIG2BYTES[intg0x]!;
  }
  for (let i = 0; i < intg0; i++, pos += 4) intPart += String(groupAt(src, pos, 4, mask)).padStart(9, '0');
  let frac = '';
  for (let i = 0; i < frac0; i++, pos += 4) frac += String(groupAt(src, pos, 4, mask)).padStart(9, '0');
  if (frac0x > 0) frac += String(groupAt(src, pos, DIG2BYTES[frac0x]!, mask)).padStart(frac0x, '0');
  let lead = 0;
  while (lead < intPart.length - 1 && intPart.charCodeAt(lead) === 48) lead++;
  intPart = intPart.length === 0 ? '0' : intPart.slice(lead);
  const text = scale > 0 ? `${intPart}.${frac}` : intPart;
  return negative && /[1-9]/.test(text) ? `-${text}` : text;
}
