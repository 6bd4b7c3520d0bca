import type { FastifyInstance } from 'fastify';

/** One operation of the server's OpenAPI document: its method and path template. */
export type Operation = { method: string; path: string };

/** Every operation the server documents, so suites that walk the API cover routes added later. */
export async function openApiOperations(app: FastifyInstance): Promise<Operation[]> {
  const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
    paths: Record<string, Record<string, unknown>>;
  };
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.keys(methods)
      .filter((method) => ['get', 'put', 'post', 'delete', 'patch'].includes(method))
      .map((method) => ({ method: method.toUpperCase(), path })),
  );
}
