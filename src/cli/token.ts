/** `kanari token create|list|revoke`: the controller API's tokens, through its admin routes. */
import { HttpError } from '../shared/http.js';
import { DEFAULT_LIFETIME, parseLifetime, ROLES, type Role, type TokenInfo } from '../server/tokens.js';
import { parseCommandArgs } from './args.js';
import { connect, STATE_HELP, STATE_OPTION } from './connect.js';
import { EXIT, UsageError } from './exit.js';

export const summary =
  "make, list and revoke the controller API's tokens (kanari token create --role operator --name ci)";

const HELP = `Usage: kanari token create --name NAME --role viewer|operator|admin [--expires D] [--json]
       kanari token list [--json]
       kanari token revoke NAME|ID

  create   makes a token and prints it once, alone on stdout (nobody can show it again:
           the controller keeps only its hash); --expires 30d, 12h or never (default ${DEFAULT_LIFETIME})
  list     every token: id, name, role, when made, expires, last used (to the minute), revoked
  revoke   the token of that id, or the one of that name that is not revoked yet

Roles: viewer reads (rollouts, history, reports, events); operator also deploys and steers
(promote, abort, pause, resume, retry, undo); admin also applies files, deploys with --set,
manages tokens and stops the controller. Each needs an admin token (kanari up keeps one in
<state>/api-token).
${STATE_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'create') return create(rest);
  if (sub === 'list') return list(rest);
  if (sub === 'revoke') return revoke(rest);
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    console.log(HELP);
    return EXIT.ok;
  }
  throw new UsageError(`token: unknown subcommand "${sub}" (create, list or revoke)`);
}

async function create(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'token create',
    argv,
    {
      name: { type: 'string' },
      role: { type: 'string' },
      expires: { type: 'string' },
      json: { type: 'boolean' },
      ...STATE_OPTION,
    },
    true,
  );
  if (positionals.length > 0) throw new UsageError(`token create: takes no arguments (got ${positionals.join(' ')})`);
  if (!values.name)
    throw new UsageError('token create: name it with --name NAME (what the history will say did things)');
  if (!ROLES.includes(values.role as Role))
    throw new UsageError(
      `token create: --role must be one of ${ROLES.join(', ')} (got ${JSON.stringify(values.role ?? '')})`,
    );
  try {
    if (values.expires !== undefined) parseLifetime(values.expires);
  } catch (err) {
    if (err instanceof HttpError) throw new UsageError(`token create: --${err.message}`);
    throw err;
  }
  const made = await connect(values.state).post<TokenInfo & { token: string }>('/api/v1/tokens', {
    name: values.name,
    role: values.role,
    ...(values.expires === undefined ? {} : { expires: values.expires }),
  });
  if (values.json) {
    console.log(JSON.stringify(made, null, 2));
    return EXIT.ok;
  }
  console.log(made.token);
  console.error(
    `token ${made.name} (${made.role}, id ${made.id}, ${made.expiresAt === undefined ? 'never expires' : `expires ${iso(made.expiresAt)}`}): printed once, keep it now`,
  );
  return EXIT.ok;
}

async function list(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'token list',
    argv,
    { json: { type: 'boolean' }, ...STATE_OPTION },
    true,
  );
  if (positionals.length > 0) throw new UsageError(`token list: takes no arguments (got ${positionals.join(' ')})`);
  const { tokens } = await connect(values.state).get<{ tokens: TokenInfo[] }>('/api/v1/tokens');
  if (values.json) {
    console.log(JSON.stringify(tokens, null, 2));
    return EXIT.ok;
  }
  const rows = [
    ['ID', 'NAME', 'ROLE', 'CREATED', 'EXPIRES', 'LAST USED', 'REVOKED'],
    ...tokens.map((t) => [
      t.id,
      t.name,
      t.role,
      iso(t.createdAt),
      t.expiresAt === undefined ? 'never' : iso(t.expiresAt),
      t.lastUsedAt === undefined ? '-' : iso(t.lastUsedAt),
      t.revokedAt === undefined ? '-' : `${iso(t.revokedAt)}${t.revokedBy ? ` by ${t.revokedBy}` : ''}`,
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows)
    console.log(
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    );
  return EXIT.ok;
}

async function revoke(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('token revoke', argv, { ...STATE_OPTION }, true);
  const [ref, ...extra] = positionals;
  if (!ref || extra.length > 0) throw new UsageError('token revoke: name one token (kanari token revoke NAME|ID)');
  const t = await connect(values.state).post<TokenInfo>(`/api/v1/tokens/${encodeURIComponent(ref)}/revoke`);
  console.log(`token ${t.name} (${t.id}) revoked at ${iso(t.revokedAt!)}${t.revokedBy ? ` by ${t.revokedBy}` : ''}`);
  return EXIT.ok;
}

/** To the minute: last use is only kept that finely. */
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
