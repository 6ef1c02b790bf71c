/** What the commands that talk to the controller share: --state and a client for it. */
import { ApiClient, stateDir } from '../server/client.js';
import type { RolloutView } from '../server/view.js';

export const STATE_OPTION = { state: { type: 'string' } } as const;
export const STATE_HELP = "  --state DIR   the controller's state directory (default $KANARI_STATE or ./.kanari)";

export function connect(state: string | undefined): ApiClient {
  return ApiClient.forState(stateDir(state));
}

export function rolloutPath(name: string, sub = ''): string {
  return `/api/v1/rollouts/${encodeURIComponent(name)}${sub ? `/${sub}` : ''}`;
}

export function getView(client: ApiClient, name: string): Promise<RolloutView> {
  return client.get<RolloutView>(rolloutPath(name));
}
