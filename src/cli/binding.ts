/** Where an API listens (`kanari up --listen`, `kanari operator --api`), and with which certificate. */
import { readFileSync } from 'node:fs';
import { isLoopbackHost, parseHostPort } from '../config/schemas/common.js';
import { describeSystemError } from '../shared/system.js';
import { UsageError } from './exit.js';

export interface Binding {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
}

/** The API's binding; a refusal (exit 2) for an address off loopback with neither TLS nor --insecure. */
export function bindingOf(
  command: string,
  flag: string,
  listenFlag: string,
  certFile?: string,
  keyFile?: string,
  insecure = false,
): Binding {
  const listen = parseHostPort(listenFlag);
  if (!listen)
    throw new UsageError(
      `${command}: ${flag} must be host:port such as 127.0.0.1:7070 (got ${JSON.stringify(listenFlag)})`,
    );
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new UsageError(`${command}: --tls-cert and --tls-key go together: give both, or neither`);
  if (!isLoopbackHost(listen.host) && certFile === undefined && !insecure)
    throw new UsageError(
      `${command}: ${flag} ${listenFlag} is not a loopback address, and the API would carry its token in clear text: give --tls-cert and --tls-key, or --insecure to do it anyway`,
    );
  if (certFile === undefined || keyFile === undefined) return listen;
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new UsageError(`${command}: cannot read the TLS ${what} ${file}: ${describeSystemError(err)}`);
    }
  };
  return { ...listen, tls: { cert: read(certFile, 'certificate'), key: read(keyFile, 'key') } };
}
