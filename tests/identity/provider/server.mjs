// A real OpenID provider (panva's oidc-provider 8) on loopback for sign-in tests.
//
// PROVIDER_CONFIG is JSON: {"issuer", "port", "clients": [client metadata],
// "accounts": {"<sub>": {"password", "claims": {...}}}}. Login and consent are
// plain HTTP endpoints so that tests drive them without a browser:
//   GET  /interaction/:uid          -> JSON {uid, prompt, missing scopes}
//   POST /interaction/:uid/login    form login=<sub>&password=... -> 303 back
//   POST /interaction/:uid/confirm  grants the scopes and claims asked -> 303
// The process prints "listening <url>" once it accepts connections.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(process.env.PROVIDER_CONFIG);
const accounts = config.accounts || {};
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    profile: ['family_name', 'given_name', 'middle_name', 'name'],
    snils: ['snils', 'verified'],
    staff: ['protokol_role', 'protokol_departments'],
  },
  scopes: ['openid', 'profile', 'snils', 'staff'],
  // Every client must send a PKCE S256 challenge, not only public ones.
  pkce: { methods: ['S256'], required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account.claims }) };
  },
});

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

function sendJson(res, status, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
}

async function confirm(req, res, interaction) {
  const { prompt: { details }, params, session, grantId } = interaction;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  const saved = await grant.save();
  const result = grantId ? {} : { consent: { grantId: saved } };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

async function interaction(req, res, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (error) {
    sendJson(res, 400, { error: 'invalid_interaction', message: String(error) });
    return;
  }
  if (req.method === 'GET' && !action) {
    sendJson(res, 200, { uid: details.uid, prompt: details.prompt.name, details: details.prompt.details });
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const account = accounts[form.get('login')];
    if (!account || account.password !== form.get('password')) {
      sendJson(res, 401, { error: 'invalid_credentials' });
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: form.get('login') } });
    return;
  }
  if (req.method === 'POST' && action === 'confirm') {
    await confirm(req, res, details);
    return;
  }
  sendJson(res, 404, { error: 'not_found' });
}

const handleProvider = provider.callback();
const server = createServer((req, res) => {
  const match = /^\/interaction\/([^/?]+)(?:\/(login|confirm))?/.exec(req.url);
  if (!match) {
    handleProvider(req, res);
    return;
  }
  interaction(req, res, match[2]).catch((error) => {
    sendJson(res, 500, { error: 'server_error', message: String(error) });
  });
});
server.listen(config.port, '127.0.0.1', () => {
  console.log(`listening ${config.issuer}`);
});
