import { z } from 'zod';
import { operationCodec } from '../opaque-operation.ts';

/**
 * The opaque operation start() hands out (see operationCodec): Google's operation name, which API it
 * lives on, and what status() needs to report usage (Google's operation has no duration or resolution).
 *
 * Names are checked against Google's two shapes before they go into a URL path:
 *   Gemini API  models/{model}/operations/{id}
 *   Vertex AI   projects/{project}/locations/{location}/publishers/google/models/{model}/operations/{id}
 */
const GEMINI_NAME = /^models\/[a-z0-9][a-z0-9.-]*\/operations\/[A-Za-z0-9_-]+$/;
const VERTEX_NAME =
  /^projects\/([a-z0-9][a-z0-9.:-]*)\/locations\/([a-z0-9][a-z0-9-]*)\/publishers\/google\/models\/([a-z0-9][a-z0-9.-]*)\/operations\/[A-Za-z0-9_-]+$/;

export type VeoApi = 'gemini' | 'vertex';

const operationSchema = z.strictObject({
  api: z.enum(['gemini', 'vertex']),
  name: z.string().min(1).max(500),
  model: z.string().min(1).max(100),
  durationSeconds: z.number().positive(),
  resolution: z.string().min(1).max(20),
});

export type VeoOperation = z.infer<typeof operationSchema>;

export function isOperationName(api: VeoApi, name: string): boolean {
  return (api === 'gemini' ? GEMINI_NAME : VERTEX_NAME).test(name);
}

/** The Vertex resource an operation belongs to (`projects/…/models/{model}`) and its location. */
export function vertexResourceOf(name: string): { resource: string; location: string } | undefined {
  const match = VERTEX_NAME.exec(name);
  if (!match?.[2]) return undefined;
  return { resource: name.slice(0, name.indexOf('/operations/')), location: match[2] };
}

const codec = operationCodec(
  'google-veo',
  'Veo',
  operationSchema.refine((operation) => isOperationName(operation.api, operation.name)),
);
export const encodeVeoOperation = codec.encode;
export const decodeVeoOperation = codec.decode;
