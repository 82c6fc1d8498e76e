/** MySQL's field types as the binlog names them (include/field_types.h). */
export const MysqlType = {
  DECIMAL: 0,
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  NULL: 6,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  NEWDATE: 14,
  VARCHAR: 15,
  BIT: 16,
  TIMESTAMP2: 17,
  DATETIME2: 18,
  TIME2: 19,
  VECTOR: 242,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
  GEOMETRY: 255,
} as const;

/** One column as the table map event describes it, with the optional metadata merged in. */
export interface BinlogColumn {
  readonly index: number;
  /** Name from the FULL metadata; `@1`, `@2`, … when the server did not send names. */
  readonly name: string;
  /** The real type (a STRING's ENUM/SET/CHAR resolved). */
  readonly type: number;
  /** Decoded type metadata: see table-map.ts. */
  readonly meta: number;
  /** Second metadata value: DECIMAL scale, BIT bytes, STRING length. */
  readonly meta2: number;
  readonly nullable: boolean;
  readonly unsigned: boolean;
  /** Collation id for character and ENUM/SET columns; 63 (binary) for byte strings. */
  readonly collation: number | undefined;
  readonly labels: readonly string[] | undefined;
}
