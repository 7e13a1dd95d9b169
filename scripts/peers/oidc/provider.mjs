// A real OpenID Provider (npm oidc-provider, a certified implementation) on loopback for
// tokendesk's sign-in tests. Started by scripts/test:
//
//   node provider.mjs PORT
//
// Issuer http://127.0.0.1:PORT. Clients register themselves (dynamic registration, one per
// test). Sign-in is a one-field form at /interaction/UID ("login" = the account name), or
// immediate when the authorization request carries login_hint (HTTP tests).
//
// Accounts: alice (role Tokendesk.Helpdesk), erin (Tokendesk.Provisioner), bob (no role),
// dave (no role; an admin pre-creates dave@contoso.test), and any other name (no role; its
// address is the name itself when it holds an @, else NAME@contoso.test).
//
// Test hooks, clearly outside the provider's own behaviour (documented in the README): the
// answer of the token endpoint can be re-signed with altered claims or another key, per
// client (POST /__test/mode {client_id, mode}), and a second signing key can be published in
// the key set (POST /__test/rotate). Modes: normal, wrong-issuer, wrong-audience, expired,
// wrong-nonce, key-2 (the rotated key), key-unknown (a key never published), amr-mfa.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';
import { SignJWT, exportJWK, generateKeyPair, importJWK } from 'jose';

const port = Number(process.argv[2] || 0);
if (!port) {
  console.error('usage: node provider.mjs PORT');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

async function key(kid) {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const priv = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const pub = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { priv, pub, signing: await importJWK(priv, 'RS256') };
}
const keys = { 'key-1': await key('key-1'), 'key-2': await key('key-2'), 'key-unknown': await key('key-unknown') };
let rotated = false;
const modes = new Map();

const people = {
  alice: { name: 'Alice Example', roles: ['Tokendesk.Helpdesk'] },
  erin: { name: 'Erin Example', roles: ['Tokendesk.Provisioner'] },
  bob: { name: 'Bob Example', roles: [] },
  dave: { name: 'Dave Example', roles: [] },
};

const provider = new Provider(issuer, {
  jwks: { keys: [keys['key-1'].priv] },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
  },
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'roles'],
  },
  pkce: { required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const who = people[id] || { name: id, roles: [] };
    return {
      accountId: id,
      async claims() {
        const address = id.includes('@') ? id : `${id}@contoso.test`;
        const claims = {
          sub: id,
          email: address,
          email_verified: true,
          name: who.name,
          preferred_username: address,
        };
        if (who.roles.length) claims.roles = who.roles;
        return claims;
      },
    };
  },
  ttl: { Interaction: 600, Session: 600, Grant: 600, AuthorizationCode: 60, IdToken: 300, AccessToken: 300 },
});
provider.proxy = false;

function decode(jwt) {
  const part = jwt.split('.')[1];
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

async function resign(idToken, mode) {
  const claims = decode(idToken);
  let kid = 'key-1';
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'wrong-issuer': claims.iss = 'http://127.0.0.1:1/someone-else'; break;
    case 'wrong-audience': claims.aud = 'another-application'; break;
    case 'expired': claims.iat = now - 7200; claims.exp = now - 3600; break;
    case 'wrong-nonce': claims.nonce = 'not-the-nonce-that-was-sent'; break;
    case 'key-2': kid = 'key-2'; break;
    case 'key-unknown': kid = 'key-unknown'; break;
    case 'amr-mfa': claims.amr = ['pwd', 'mfa']; break;
    default: return idToken;
  }
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(keys[kid].signing);
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/mode' && ctx.method === 'POST') {
    const body = await readJson(ctx.req);
    modes.set(body.client_id, body.mode);
    ctx.body = { ok: true };
    return;
  }
  if (ctx.path === '/__test/rotate' && ctx.method === 'POST') {
    rotated = true;
    ctx.body = { ok: true };
    return;
  }
  if (ctx.path.startsWith('/interaction/')) {
    await interaction(ctx);
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.body && ctx.body.id_token && ctx.oidc && ctx.oidc.client) {
    const mode = modes.get(ctx.oidc.client.clientId) || 'normal';
    ctx.body = { ...ctx.body, id_token: await resign(ctx.body.id_token, mode) };
  }
  if (ctx.path === '/jwks' && rotated && ctx.body && Array.isArray(ctx.body.keys)) {
    ctx.body = { keys: [...ctx.body.keys, keys['key-2'].pub] };
  }
});

function readJson(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => { try { resolve(JSON.parse(data || '{}')); } catch (e) { reject(e); } });
    req.on('error', reject);
  });
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });
}

async function finish(ctx, details, accountId) {
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(String(details.params.scope || 'openid'));
  const grantId = await grant.save();
  const result = { login: { accountId }, consent: { grantId } };
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(to);
}

async function interaction(ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'POST') {
    const form = await readForm(ctx.req);
    const login = (form.get('login') || '').trim();
    if (!login) { ctx.status = 400; ctx.body = 'login required'; return; }
    await finish(ctx, details, login);
    return;
  }
  if (details.params.login_hint) {
    await finish(ctx, details, String(details.params.login_hint));
    return;
  }
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html><html lang="en"><head><title>Test identity provider</title></head><body>
<h1>Test identity provider</h1>
<form method="post" action="/interaction/${details.uid}">
<label>Account <input id="login" name="login" autofocus></label>
<button id="sign-in" type="submit">Sign in</button>
</form></body></html>`;
}

const server = createServer(provider.callback());
server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
