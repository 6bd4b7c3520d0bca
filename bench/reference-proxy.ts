/**
 * The floor for the gateway benchmark (`node bench/gateway.ts --reference`): the least a Node proxy does
 * for the same call, on the same stack as Keyhaven (Fastify, a raw-body route, one pooled undici Agent,
 * the response's head and body in one write), with none of Keyhaven's work: no token, no credential, no
 * rate limit, no budget, no usage, no metrics, no log line. It answers the bench's set-up calls with a
 * fixed token. Not part of Keyhaven; it shows how much of the gap to the direct rate any proxy has here.
 */
import Fastify from 'fastify';
import { Agent, type Dispatcher } from 'undici';
import { simulatorKeys } from '../src/simulator/index.ts';

const base = new URL(process.env.KEYHAVEN_OPENAI_BASE_URL ?? '');
const basePath = base.pathname.replace(/\/$/, '');
const key = simulatorKeys().openai?.[0] ?? '';
const agent = new Agent({ keepAliveTimeout: 10_000, connections: 128 });
const app = Fastify({ logger: false });

app.get('/health', async () => ({ status: 'ok' }));
app.put('/v1/users/:userId/credentials/:provider', async () => ({ stored: true }));
app.post('/v1/users/:userId/tokens', async () => ({ token: 'reference' }));
app.register(async (scope) => {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  scope.post('/v1/openai/*', async (request, reply) => {
    const upstream = await agent.request({
      origin: base.origin,
      path: `${basePath}${(request.raw.url ?? '').slice('/v1/openai'.length)}`,
      method: request.method as Dispatcher.HttpMethod,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: request.body as Buffer,
    });
    reply.hijack();
    const raw = reply.raw;
    raw.cork();
    setImmediate(() => raw.uncork());
    raw.writeHead(upstream.statusCode, { 'content-type': String(upstream.headers['content-type']) });
    for await (const chunk of upstream.body) raw.write(chunk);
    raw.end();
  });
});

await app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' });
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
