import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseCommandArgs } from '../../src/cli/args.js';
import { CLUSTER_HELP, CLUSTER_OPTIONS, clusterTarget, rolloutName } from '../../src/cli/cluster.js';
import { UsageError } from '../../src/cli/exit.js';
import { STATE_OPTION } from '../../src/cli/connect.js';

/** `kanari status ARGS` as a command parses them: the cluster options beside --state. */
function parse(args: string[]) {
  const { values } = parseCommandArgs('status', args, { ...CLUSTER_OPTIONS, ...STATE_OPTION }, true);
  return clusterTarget('status', values);
}

describe('the cluster options', () => {
  it('select a cluster when any is given, as kubectl spells them', () => {
    assert.equal(parse([]), undefined);
    assert.deepEqual(parse(['-n', 'shop']), { namespace: 'shop' });
    assert.deepEqual(parse(['--kubeconfig', '/k/config', '--context', 'prod', '--namespace', 'shop']), {
      kubeconfig: '/k/config',
      context: 'prod',
      namespace: 'shop',
    });
  });

  it('refuse a namespace that is not one, an empty context or file, and --state beside them', () => {
    for (const [args, message] of [
      [['-n', 'Shop_1'], /--namespace must be a namespace name.*\(got "Shop_1"\)/],
      [['-n', 'a'.repeat(64)], /--namespace must be a namespace name/],
      [['--context', ' '], /--context must name a context/],
      [['--kubeconfig', ''], /--kubeconfig must name a file/],
      [['-n', 'shop', '--state', '/tmp/s'], /--state names a standalone controller/],
    ] as const)
      assert.throws(
        () => parse([...args]),
        (err: Error) => err instanceof UsageError && message.test(err.message),
      );
  });

  it('select the current context with none of them when run as kubectl kanari (KANARI_CLUSTER=1), unless --state is given', () => {
    const target = (args: string[], env: NodeJS.ProcessEnv) => {
      const { values } = parseCommandArgs('status', args, { ...CLUSTER_OPTIONS, ...STATE_OPTION }, true);
      return clusterTarget('status', values, env);
    };
    assert.deepEqual(target([], { KANARI_CLUSTER: '1' }), {});
    assert.deepEqual(target(['-n', 'shop'], { KANARI_CLUSTER: '1' }), { namespace: 'shop' });
    assert.equal(target(['--state', '/tmp/s'], { KANARI_CLUSTER: '1' }), undefined);
    assert.equal(target([], { KANARI_CLUSTER: '0' }), undefined);
  });

  it('refuse a Rollout name that cannot be one before asking the cluster', () => {
    assert.equal(rolloutName('status', 'web.v2'), 'web.v2');
    for (const name of ['Web', 'web/../x', 'a,b', '', 'x'.repeat(254)])
      assert.throws(
        () => rolloutName('promote', name),
        (err: Error) => err instanceof UsageError && /^promote: a Rollout's name must be /.test(err.message),
        name,
      );
  });

  it('have help text naming each', () => {
    for (const flag of ['--kubeconfig', '--context', '--namespace', '-n']) assert.ok(CLUSTER_HELP.includes(flag), flag);
  });
});

/** Single sign-on's settings as kanari up takes them: no redirectUrl, which the operator cannot guess. */
const OIDC_DIR = mkdtempSync(join(tmpdir(), 'kanari-oidc-'));
const OIDC_FILE = join(OIDC_DIR, 'oidc.yaml');
writeFileSync(
  OIDC_FILE,
  'issuer: https://id.example.com\nclientId: kanari\nroleClaim: groups\nroles: { viewer: [all] }\n',
);
after(() => rmSync(OIDC_DIR, { recursive: true, force: true }));

describe("the operator's API options", () => {
  it('refuse TLS and single sign-on flags without --api, an address that is not one, clear text off loopback, and a single sign-on file without its redirect URL, before any connection', async () => {
    const { run } = await import('../../src/cli/operator.js');
    for (const [args, message] of [
      [
        ['--tls-cert', '/c.pem', '--tls-key', '/k.pem'],
        /--tls-cert, --tls-key, --insecure, --oidc, --secure-cookies and --token-audience go with --api/,
      ],
      [['--oidc', '/oidc.yaml'], /--insecure, --oidc, --secure-cookies and --token-audience go with --api/],
      [['--token-audience', 'kanari'], /--insecure, --oidc, --secure-cookies and --token-audience go with --api/],
      [['--secure-cookies'], /--insecure, --oidc, --secure-cookies and --token-audience go with --api/],
      [
        ['--api', '127.0.0.1:8443', '--token-audience', 'has space'],
        /--token-audience must be 1 to 256 printable characters/,
      ],
      [['--api', '127.0.0.1:8443', '--token-audience', ''], /--token-audience must be 1 to 256 printable characters/],
      [
        ['--api', '127.0.0.1:8443', '--oidc', '/nothing/oidc.yaml'],
        /operator: cannot read --oidc \/nothing\/oidc\.yaml/,
      ],
      [['--api', '127.0.0.1:8443', '--oidc', OIDC_FILE], /operator: --oidc .*: redirectUrl is needed on a cluster/],
      [['--api', 'nope'], /operator: --api must be host:port/],
      [
        ['--api', '0.0.0.0:8443'],
        /--api 0\.0\.0\.0:8443 is not a loopback address.*--tls-cert and --tls-key, or --insecure/,
      ],
      [['--api', '127.0.0.1:8443', '--tls-cert', '/c.pem'], /--tls-cert and --tls-key go together/],
      [
        ['--api', '127.0.0.1:8443', '--tls-cert', '/nothing/c.pem', '--tls-key', '/nothing/k.pem'],
        /cannot read the TLS certificate \/nothing\/c\.pem/,
      ],
    ] as const)
      await assert.rejects(
        run([...args]),
        (err: Error) => err instanceof UsageError && message.test(err.message),
        args.join(' '),
      );
  });
});
