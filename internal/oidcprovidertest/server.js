// oidc-provider (an independent, OpenID Certified provider) configured for
// identityweb's standards-provider tests. harness.go starts it as
//
//   node server.js CONFIG.json
//
// CONFIG.json (written by the Go helper, the single source of truth) holds the
// host to listen on, the users, the resource servers and the clients' metadata.
// The server listens on a free loopback port, builds its issuer from that port,
// prints one JSON line {"issuer": "..."} on stdout when it is ready, and exits
// when its standard input closes (the Go test process ended, however it ended).
// Diagnostics go to stderr.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const loopbackHosts = new Set(['127.0.0.1', '::1', 'localhost']);
if (!loopbackHosts.has(cfg.host)) {
  throw new Error(`oidcprovidertest: refusing to listen on ${cfg.host}: loopback only`);
}

const users = new Map(cfg.users.map((u) => [u.id, u]));
const resources = new Map(cfg.resources.map((r) => [r.indicator, r]));

// The provider's own signing keys: fresh for every run, never written to disk.
function signingKeys() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return { keys: [{ ...rsa, kid: 'op-rsa', use: 'sig' }, { ...ec, kid: 'op-ec', use: 'sig' }] };
}

// isLoopbackURL reports whether url names a loopback host literally.
function isLoopbackURL(url) {
  let host;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  if (host === 'localhost' || host === '[::1]') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

// Outgoing requests (back-channel logout notifications, jwks_uri fetches).
// oidc-provider guards them against SSRF: it hands this hook an undici
// dispatcher (options.dispatcher) that destroys any connection to a
// special-use address, loopback included. The tests' relying parties listen on
// loopback, so for a URL whose host is a loopback literal (127.0.0.0/8, [::1],
// localhost) — and only then — the request goes out through Node's default
// dispatcher; every other URL keeps the guard's dispatcher. The guard is never
// turned off wholesale. Redirects stay off (oidc-provider asks for
// redirect: 'manual'), so a loopback endpoint cannot bounce a request elsewhere.
function guardedFetch(url, options) {
  if (isLoopbackURL(url)) {
    const { dispatcher, ...rest } = options; // eslint-disable-line no-unused-vars
    return globalThis.fetch(url, { ...rest, redirect: 'manual' });
  }
  return globalThis.fetch(url, options);
}

function resourceServerInfo(r) {
  const info = { scope: r.scope, audience: r.indicator, accessTokenTTL: r.ttl };
  if (r.format === 'jwt') {
    // RFC 9068: typ at+jwt, aud = the resource, scope, client_id.
    info.accessTokenFormat = 'jwt';
    info.jwt = { sign: { alg: 'RS256' } };
  } else {
    info.accessTokenFormat = 'opaque'; // read through RFC 7662 introspection
  }
  return info;
}

function configuration() {
  return {
    clients: cfg.clients,
    jwks: signingKeys(),
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'roles'],
    claims: {
      openid: ['sub'],
      profile: ['name'],
      email: ['email', 'email_verified'],
      roles: ['roles'],
    },
    async findAccount(ctx, id) {
      const u = users.get(id);
      if (!u) return undefined;
      return {
        accountId: u.id,
        async claims() {
          return {
            sub: u.id, name: u.name, email: u.email, email_verified: true, roles: u.roles,
          };
        },
      };
    },
    // Users' roles travel in their JWT access tokens (and introspection).
    async extraTokenClaims(ctx, token) {
      const u = token.accountId ? users.get(token.accountId) : undefined;
      return u ? { roles: u.roles } : undefined;
    },
    // ID tokens carry the profile claims the scopes release (name, email),
    // as most providers issue them; the apps read the account from them.
    conformIdTokenClaims: false,
    responseTypes: ['code'], // the code flow only: no implicit or hybrid grants advertised
    pkce: { required: () => true },
    rotateRefreshToken: true,
    clientBasedCORS: () => false,
    ttl: {
      AccessToken: cfg.accessTokenTTL,
      ClientCredentials: cfg.accessTokenTTL,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      Interaction: 3600,
    },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
      dPoP: {
        enabled: true,
        nonceSecret: randomBytes(32),
        requireNonce: () => cfg.dpopNonce === true,
      },
      pushedAuthorizationRequests: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => oneOf,
        useGrantedResource: () => false,
        async getResourceServerInfo(ctx, indicator) {
          const r = resources.get(indicator);
          if (!r) throw new errors.InvalidTarget();
          return resourceServerInfo(r);
        },
      },
    },
    fetch: guardedFetch,
  };
}

const server = createServer();
server.listen(0, cfg.host, () => {
  const { port } = server.address();
  const host = cfg.host === '::1' ? '[::1]' : cfg.host;
  const issuer = `http://${host}:${port}`;
  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  provider.on('backchannel.error', (ctx, err, client) => console.error('backchannel.error', client?.clientId, err?.message));
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

// The Go test holds our stdin open; when it closes, the test process is gone.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
