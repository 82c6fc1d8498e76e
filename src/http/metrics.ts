/**
 * Prometheus metrics (`/metrics`, prom-client) of a running pipeline: changes captured and
 * applied per table, how far behind the history is (seconds, changes, files), dead letters, the
 * size and duration of apply's store batches, and snapshot progress.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface PipelineGauges {
  readonly lagSeconds: number | null;
  readonly pendingEvents: number;
  readonly pendingFiles: number;
  readonly deadLetters: number;
}

export class PipelineMetrics {
  readonly registry = new Registry();
  readonly #captured: Counter<'table'>;
  readonly #applied: Counter<'table'>;
  readonly #snapshotRows: Counter<'table'>;
  readonly #batchEvents: Histogram;
  readonly #batchSeconds: Histogram;

  /** `gauges` is read at each scrape. */
  constructor(gauges: () => Promise<PipelineGauges>) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'tabletime_' });
    this.#captured = new Counter({
      name: 'tabletime_changes_captured_total',
      help: 'Row changes written to durable change files, by table (database.table)',
      labelNames: ['table'],
      registers,
    });
    this.#applied = new Counter({
      name: 'tabletime_changes_applied_total',
      help: 'Row changes applied to the history store (queryable), by table',
      labelNames: ['table'],
      registers,
    });
    this.#snapshotRows = new Counter({
      name: 'tabletime_snapshot_rows_total',
      help: 'Rows read by the initial snapshot, by table',
      labelNames: ['table'],
      registers,
    });
    this.#batchEvents = new Histogram({
      name: 'tabletime_apply_batch_changes',
      help: 'Row changes per store transaction of apply',
      buckets: [1, 10, 100, 1_000, 5_000, 10_000, 50_000],
      registers,
    });
    this.#batchSeconds = new Histogram({
      name: 'tabletime_apply_batch_seconds',
      help: 'Duration of apply store transactions',
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    // Read from the pipeline at each scrape; one read serves the four gauges of a scrape.
    let pending: Promise<PipelineGauges> | null = null;
    const read = () => (pending ??= gauges().finally(() => setTimeout(() => (pending = null), 100)));
    const gauge = (name: string, help: string, pick: (g: PipelineGauges) => number | null) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const v = pick(await read());
          if (v !== null) this.set(v);
        },
      });
    gauge(
      'tabletime_lag_seconds',
      'Seconds the history is behind the source (0 when caught up)',
      (g) => g.lagSeconds,
    );
    gauge('tabletime_lag_changes', 'Row changes captured and not yet applied', (g) => g.pendingEvents);
    gauge('tabletime_files_pending', 'Change files captured and not yet applied', (g) => g.pendingFiles);
    gauge(
      'tabletime_dead_letters',
      'Lines set aside as dead letters (see DATA_DIR/dead-letters)',
      (g) => g.deadLetters,
    );
  }

  captured(table: string, changes: number): void {
    this.#captured.inc({ table }, changes);
  }

  applied(perTable: ReadonlyMap<string, number>, seconds: number): void {
    let total = 0;
    for (const [table, n] of perTable) {
      this.#applied.inc({ table }, n);
      total += n;
    }
    this.#batchEvents.observe(total);
    this.#batchSeconds.observe(seconds);
  }

  snapshotRows(table: string, rows: number): void {
    this.#snapshotRows.inc({ table }, rows);
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
