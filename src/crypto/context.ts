/**
 * Canonical, length-prefixed encodings of the contexts bound into AAD. Each part is a u32 BE byte
 * length followed by its UTF-8 bytes, after a label naming the structure, so no two distinct contexts
 * encode to the same bytes.
 */
export function encodeParts(label: string, parts: readonly string[]): Buffer {
  const encoded = [label, ...parts].map((part) => Buffer.from(part, 'utf8'));
  const out = Buffer.alloc(encoded.reduce((sum, part) => sum + 4 + part.length, 0));
  let offset = 0;
  for (const part of encoded) {
    offset = out.writeUInt32BE(part.length, offset);
    offset += part.copy(out, offset);
  }
  return out;
}

/** Where an encrypted field lives. Rebuilt from the row on decrypt, never read from the blob. */
export interface RecordContext {
  tenant: string;
  userId: string;
  credentialId: string;
  provider: string;
  field: string;
}

export function encodeRecordContext(context: RecordContext): Buffer {
  return encodeParts('keyhaven/record/v1', [
    context.tenant,
    context.userId,
    context.credentialId,
    context.provider,
    context.field,
  ]);
}

/** What a wrapped data key is bound to. */
export interface DataKeyContext {
  tenant: string;
  userId: string;
  dekVersion: number;
}

export function encodeDataKeyContext(context: DataKeyContext, kekVersion: number): Buffer {
  return encodeParts('keyhaven/dek/v1', [
    context.tenant,
    context.userId,
    String(context.dekVersion),
    String(kekVersion),
  ]);
}
