/**
 * A password from Google Secret Manager (`TABLETIME_SOURCE_PASSWORD_SECRET=projects/P/secrets/S`,
 * optionally `/versions/N`; latest otherwise), read with the machine's own credentials (the VM's
 * or Cloud Run's service account, or GOOGLE_APPLICATION_CREDENTIALS), so that it never sits in a
 * file, a flag or the instance's metadata. Not run here: there is no Secret Manager offline.
 */
import { ConfigError } from '../core/index.ts';

const NAME = /^projects\/[a-z0-9-]+\/secrets\/[A-Za-z0-9_-]+(?:\/versions\/(?:latest|\d+))?$/;

/** The secret version's resource name, checked: `projects/P/secrets/S[/versions/V]`. */
export function secretVersionName(name: string): string {
  if (!NAME.test(name)) {
    throw new ConfigError(
      'SOURCE_SECRET',
      `'${name}' is not a Secret Manager name: write projects/PROJECT/secrets/NAME[/versions/N]`,
    );
  }
  return name.includes('/versions/') ? name : `${name}/versions/latest`;
}

export async function readSecret(name: string): Promise<string> {
  const version = secretVersionName(name);
  const { GoogleAuth } = await import('google-auth-library');
  try {
    const auth = new GoogleAuth({ scopes: 'https://www.googleapis.com/auth/cloud-platform' });
    const client = await auth.getClient();
    const res = await client.request<{ payload?: { data?: string } }>({
      url: `https://secretmanager.googleapis.com/v1/${version}:access`,
    });
    const data = res.data.payload?.data;
    if (data === undefined) throw new Error('the answer has no payload');
    return Buffer.from(data, 'base64')
      .toString('utf8')
      .replace(/\r?\n$/, '');
  } catch (err) {
    const status = (err as { status?: number; response?: { status?: number } }).response?.status;
    throw new ConfigError(
      'SOURCE_SECRET',
      `cannot read the secret ${version}${status ? ` (HTTP ${status})` : ''}: give the service account roles/secretmanager.secretAccessor on it, and check its name`,
      { cause: err },
    );
  }
}
