import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  columnFromSqlType,
  formatEpochMicros,
  formatTimeMicros,
  normalizeDecimal,
  parseUtcMicros,
  positionKey,
  shortestFloat32,
  type SourcePosition,
} from './index.ts';

describe('values', () => {
  it('normalizeDecimal gives text already in MySQL form back as it is, and only such text', () => {
    // A leading space is never MySQL's form: it takes the full path, the oracle for the short one.
    const parts = [
      '',
      '-',
      '0',
      '00',
      '5',
      '05',
      '50',
      '123',
      '.',
      '.0',
      '.5',
      '.00',
      '.50',
      '.123',
      'e1',
      'x',
    ];
    for (const a of parts)
      for (const b of parts)
        for (const c of parts) {
          const text = a + b + c;
          for (const scale of [0, 1, 2, 3]) {
            const full = (() => {
              try {
                return normalizeDecimal(` ${text}`, scale);
              } catch {
                return 'throws';
              }
            })();
            const short = (() => {
              try {
                return normalizeDecimal(text, scale);
              } catch {
                return 'throws';
              }
            })();
            assert.equal(short, full, `'${text}' at scale ${scale}`);
          }
        }
  });

  it('normalizeDecimal keeps every digit and gives MySQL scale', () => {
    assert.equal(normalizeDecimal('12.3', 2), '12.30');
    assert.equal(normalizeDecimal('-0.000', 2), '0.00');
    assert.equal(normalizeDecimal('1e3', 0), '1000');
    assert.equal(normalizeDecimal('1.5e-7', 8), '0.00000015');
    assert.equal(normalizeDecimal('+007.10', 1), '7.1');
    assert.equal(
      normalizeDecimal('123456789012345678901234567890.5', undefined),
      '123456789012345678901234567890.5',
    );
    assert.throws(() => normalizeDecimal('1.234', 2), /more than 2 fraction digits/);
    assert.throws(() => normalizeDecimal('abc', 2), /not a decimal/);
  });

  it('normalizeDecimal is exact for any digits (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }),
        fc.integer({ min: 0, max: 30 }),
        (n, scale) => {
          const neg = n < 0n;
          const digits = (neg ? -n : n).toString().padStart(scale + 1, '0');
          const text = `${neg ? '-' : ''}${scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits}`;
          assert.equal(normalizeDecimal(text, scale), n === 0n ? text.replace('-', '') : text);
        },
      ),
    );
  });

  it('shortestFloat32 gives back what a FLOAT column stored', () => {
    assert.equal(shortestFloat32(Math.fround(0.1)), 0.1);
    assert.equal(shortestFloat32(45.66999816894531), 45.67);
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (f) => {
        assert.equal(Math.fround(shortestFloat32(f)), Math.fround(f));
      }),
    );
  });

  it('formats epoch micros and TIME without a time zone', () => {
    assert.equal(formatEpochMicros(1707380130000000n, 6), '2024-02-08 08:15:30.000000');
    assert.equal(formatEpochMicros(-1n, 6), '1969-12-31 23:59:59.999999');
    assert.equal(formatEpochMicros(0, 0, 'T'), '1970-01-01T00:00:00');
    assert.equal(formatTimeMicros(-(838n * 3600n + 59n * 60n + 59n) * 1_000_000n, 6), '-838:59:59.000000');
    assert.equal(formatTimeMicros(-1n, 6), '-00:00:00.000001');
    assert.equal(formatTimeMicros(29730000000n, 0), '08:15:30');
    assert.equal(parseUtcMicros('2021-12-25 05:42:04.408'), Date.UTC(2021, 11, 25, 5, 42, 4, 408) * 1000);
    assert.equal(parseUtcMicros('2026-11-24T21:15:54.123456Z') % 1_000_000, 123456);
  });

  it('parseUtcMicros answers from its recent instants only for the same text', () => {
    // More distinct instants than it keeps, revisited in a random order: a stale or shifted slot
    // would answer one instant with another's value.
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 60 }), (picks) => {
        for (const k of picks) {
          const text = `2026-11-${String(10 + k).padStart(2, '0')} 10:00:0${k}.${k}00001`;
          assert.equal(parseUtcMicros(text), Date.UTC(2026, 10, 10 + k, 10, 0, k) * 1000 + k * 100_000 + 1);
        }
      }),
    );
    assert.throws(() => parseUtcMicros('2026-13-99 nonsense'), /not a UTC timestamp/);
    assert.throws(() => parseUtcMicros('2026-13-99 nonsense'), /not a UTC timestamp/);
  });

  it('columnFromSqlType reads MySQL declarations', () => {
    assert.deepEqual(columnFromSqlType('a', 'decimal(65,30) unsigned zerofill'), {
      name: 'a',
      kind: 'decimal',
      sqlType: 'decimal(65,30) unsigned zerofill',
      nullable: true,
      unsigned: true,
      precision: 65,
      scale: 30,
    });
    const e = columnFromSqlType('e', "ENUM('A','b,c','it''s')");
    assert.equal(e.kind, 'enum');
    assert.deepEqual(e.labels, ['A', 'b,c', "it's"]);
    assert.equal(columnFromSqlType('t', 'datetime(6)').fsp, 6);
    assert.equal(columnFromSqlType('b', 'bit(64)').length, 64);
    assert.equal(columnFromSqlType('u', 'bigint(20) unsigned').kind, 'bigint');
    assert.equal(columnFromSqlType('x', 'some_future_type').kind, 'string');
  });
});

describe('positions', () => {
  const pos = (file: number, p: number, row: number, snapshot = false): SourcePosition => ({
    snapshot,
    logFile: snapshot ? '' : `mysql-bin.${String(file).padStart(6, '0')}`,
    logPosition: snapshot ? 0 : p,
    rowIndex: row,
  });

  it('orders by file sequence, position, row index; snapshot first; key-change delete half first', () => {
    const keys = [
      positionKey(pos(0, 0, 5, true), 'INSERT'),
      positionKey(pos(9, 999999, 0), 'INSERT'),
      positionKey(pos(10, 4, 0), 'INSERT'),
      positionKey(pos(10, 4, 1), 'UPDATE-DELETE'),
      positionKey(pos(10, 4, 1), 'UPDATE-INSERT'),
      positionKey(pos(1_000_000, 4, 0), 'DELETE'), // past six digits of file sequence
    ];
    assert.deepEqual([...keys].sort(), keys);
  });

  it('the key order is the numeric order (property)', () => {
    const arb = fc.record({
      file: fc.integer({ min: 1, max: 9_999_999 }),
      p: fc.integer({ min: 4, max: 2 ** 40 }),
      row: fc.integer({ min: 0, max: 100_000 }),
    });
    fc.assert(
      fc.property(arb, arb, (a, b) => {
        const ka = positionKey(pos(a.file, a.p, a.row), 'INSERT');
        const kb = positionKey(pos(b.file, b.p, b.row), 'INSERT');
        const numeric = a.file - b.file || a.p - b.p || a.row - b.row;
        assert.equal(Math.sign(ka < kb ? -1 : ka > kb ? 1 : 0), Math.sign(numeric));
      }),
    );
  });
});
