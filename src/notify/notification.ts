import type { CompletedFile } from '../changefile/index.ts';

/**
 * What a notification about one new change file says, in the spirit of Cloud Storage's Pub/Sub
 * notifications (bucket + object name): apply reads the file from the bucket. Notifications
 * speed things up; they are not the source of truth (apply also scans the bucket), so one lost
 * or doubled is harmless.
 */
export interface FileNotification {
  readonly bucket: string;
  /** The object path inside the bucket, '/'-separated. */
  readonly name: string;
  readonly database: string;
  readonly table: string;
  readonly schema_key: string;
  readonly events: number;
  readonly bytes: number;
}

export function notificationOf(bucket: string, file: CompletedFile): FileNotification {
  return {
    bucket,
    name: file.objectPath,
    database: file.database,
    table: file.table,
    schema_key: file.schemaKey,
    events: file.events,
    bytes: file.bytes,
  };
}

export interface Notifier extends AsyncDisposable {
  /** Publishes one notification a file; resolves when the broker has them. */
  publish(notifications: readonly FileNotification[]): Promise<void>;
  close(): Promise<void>;
}
