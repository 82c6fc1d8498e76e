/** A cursor over binlog bytes: little-endian integers, MySQL length-encoded integers and strings. */
export class ByteReader {
  pos: number;
  readonly buf: Buffer;
  /** Offset of `buf[0]` in the file or stream, for error messages. */
  readonly base: number;

  constructor(buf: Buffer, pos = 0, base = 0) {
    this.buf = buf;
    this.pos = pos;
    this.base = base;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  #need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new RangeError(`needs ${n} bytes at offset ${this.base + this.pos}, only ${this.remaining} left`);
    }
  }

  u8(): number {
    this.#need(1);
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.#need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u24(): number {
    this.#need(3);
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }
  u32(): number {
    this.#need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  /** Up to 6 bytes as a number (table ids). */
  uintLE(n: number): number {
    this.#need(n);
    const v = this.buf.readUIntLE(this.pos, n);
    this.pos += n;
    return v;
  }
  u64(): bigint {
    this.#need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  /** MySQL's length-encoded integer (net_field_length). */
  lenenc(): number {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.u24();
    if (first === 0xfe) return Number(this.u64());
    throw new RangeError(
      `bad length-encoded integer 0x${first.toString(16)} at offset ${this.base + this.pos - 1}`,
    );
  }
  bytes(n: number): Buffer {
    this.#need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  skip(n: number): void {
    this.#need(n);
    this.pos += n;
  }
  /** A length-encoded string as raw bytes. */
  lenencBytes(): Buffer {
    return this.bytes(this.lenenc());
  }
  lenencString(): string {
    return this.lenencBytes().toString('utf8');
  }
}
