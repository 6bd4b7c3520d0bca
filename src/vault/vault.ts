import { timingSafeEqual } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import {
  type BoundedCache,
  copyKey,
  createBoundedCache,
  createDekCache,
  DecryptionError,
  type DekCache,
  decryptRecord,
  decryptWithRecordKey,
  deriveAuditChainKey,
  encryptRecord,
  fingerprintSecret,
  type Kms,
  openRecordKey,
  type RecordContext,
  redactSecrets,
  SecretValue,
} from '../crypto/index.ts';
import { KeyhavenError } from '../errors.ts';
import { newId } from '../ids.ts';
import {
  type CredentialCatalog,
  type CredentialFields,
  type CredentialSpec,
  createCredentialCatalog,
} from '../providers/credentials.ts';
import type { CredentialRow, CredentialStatus, Tables } from '../store/index.ts';
import {
  type AuditEvent,
  appendAuditEvents,
  createAuditQueue,
  listAuditEvents,
  verifyAuditLog,
} from './audit.ts';
import { createDataKeys } from './data-keys.ts';
import {
  actorSchema,
  credentialIdSchema,
  credentialSpec,
  holderSchema,
  parse,
  parseCredentials,
  purposeSchema,
  reasonSchema,
  userIdSchema,
} from './input.ts';
import { type CacheInvalidation, createLocalInvalidation, type InvalidationMessage } from './invalidation.ts';
import { maskSecret } from './mask.ts';
import { countDataKeysByKekVersion, type RewrapOptions, rewrapDataKeys } from './rewrap.ts';

export type ValidationResult =
  | { status: 'valid' }
  | { status: 'invalid'; reason: string }
  | { status: 'unreachable'; reason?: string }
  | { status: 'rate_limited'; retryAfterMs?: number };

/** Checks a credential with its provider (the cheapest authenticated call). Supplied by the providers. */
export type ValidateCredential = (
  provider: string,
  credentials: Readonly<Record<string, SecretValue>>,
) => Promise<ValidationResult>;

export interface VaultDependencies {
  db: Kysely<Tables>;
  kms: Kms;
  clock?: () => Date;
  validate?: ValidateCredential;
  catalog?: CredentialCatalog;
  /** Bound into every record's AAD; one deployment, one tenant. */
  tenant?: string;
  dekCache?: DekCache;
  /** Current credential rows with their verified record keys, so a warm reveal reads no database. */
  recordCache?: { maxEntries?: number; ttlMs?: number };
  audit?: { flushIntervalMs?: number; maxBatch?: number; maxPending?: number };
  onBackgroundError?: (error: unknown) => void;
  /** Tells other instances which cached entries a write made stale (PostgreSQL LISTEN/NOTIFY). */
  invalidation?: CacheInvalidation;
}

export interface CredentialSummary {
  provider: string;
  connected: boolean;
  credentialId: string | null;
  status: CredentialStatus | null;
  statusReason: string | null;
  maskedKey: string | null;
  fingerprint: string | null;
  version: number | null;
  createdAt: Date | null;
  updatedAt: Date | null;
  lastValidatedAt: Date | null;
  lastUsedAt: Date | null;
}

export interface RevealedCredential {
  credentialId: string;
  provider: string;
  version: number;
  credentials: Readonly<Record<string, SecretValue>>;
}

interface OpenRecord {
  row: CredentialRow;
  recordKey: Buffer;
}

const RECORD_FIELD = 'credentials';
/** Owner of the audit chain's data key: '#' is not allowed in user ids. */
export const AUDIT_KEY_OWNER = '#audit';
const STORE_LOCK_NAMESPACE = 0x4b49;

function summarize(provider: string, row: CredentialRow | undefined): CredentialSummary {
  return {
    provider,
    connected: row !== undefined,
    credentialId: row?.id ?? null,
    status: row?.status ?? null,
    statusReason: row?.status_reason ?? null,
    maskedKey: row?.masked_key ?? null,
    fingerprint: row?.fingerprint ?? null,
    version: row?.version ?? null,
    createdAt: row?.created_at ?? null,
    updatedAt: row?.updated_at ?? null,
    lastValidatedAt: row?.last_validated_at ?? null,
    lastUsedAt: row?.last_used_at ?? null,
  };
}

function toSecrets(fields: CredentialFields): Record<string, SecretValue> {
  return Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, new SecretValue(value)]));
}

function secretStrings(spec: CredentialSpec, fields: CredentialFields): string[] {
  return spec.secretFields.flatMap((name) => (fields[name] ? [fields[name]] : []));
}

/** The keyed fingerprint of a credential's secret fields, under the user's data key. */
function fingerprintFields(dekKey: Buffer, spec: CredentialSpec, fields: CredentialFields): string {
  const material = Buffer.from(JSON.stringify(spec.secretFields.map((name) => [name, fields[name] ?? null])));
  try {
    return fingerprintSecret(dekKey, material);
  } finally {
    material.fill(0);
  }
}

function notFound(provider: string): KeyhavenError {
  return new KeyhavenError('not_found', `no ${provider} credential is stored for this user`);
}

export function createVault({
  db,
  kms,
  clock = () => new Date(),
  validate,
  catalog = createCredentialCatalog(),
  tenant = 'default',
  dekCache = createDekCache(),
  recordCache: recordCacheOptions = {},
  audit: auditOptions = {},
  onBackgroundError = () => {},
  invalidation = createLocalInvalidation(),
}: VaultDependencies) {
  const dataKeys = createDataKeys({ db, kms, tenant, cache: dekCache, clock });
  const records: BoundedCache<string, OpenRecord> = createBoundedCache({
    maxEntries: recordCacheOptions.maxEntries ?? 10_000,
    ttlMs: recordCacheOptions.ttlMs ?? 5_000,
    onEvict: (record) => record.recordKey.fill(0),
  });
  // Bumped on every write: a reveal that read the database before a write must not cache what it read.
  let generation = 0;
  const recordKey = (userId: string, provider: string) => `${userId}|${provider}`;
  // Caches outside the vault (the gateway's decrypted credentials) hear of every change, local or remote.
  const listeners: ((message: InvalidationMessage) => void)[] = [];
  const announce = (message: InvalidationMessage) => {
    for (const listener of listeners) listener(message);
  };
  const invalidate = (userId: string, provider?: string) => {
    generation += 1;
    if (provider) records.delete(recordKey(userId, provider));
    else records.deleteWhere((key) => key.startsWith(`${userId}|`));
    announce(provider === undefined ? { type: 'user', userId } : { type: 'user', userId, provider });
  };
  invalidation.subscribe((message) => {
    if (message.type === 'reset') {
      generation += 1;
      records.clear();
      dekCache.clear();
      announce(message);
      return;
    }
    invalidate(message.userId, message.provider);
    if (message.provider === undefined) dataKeys.forget(message.userId);
  });

  // The audit chain's HMAC key: derived from a data key of a reserved owner that no user id can name
  // (so shred never touches it and rewrap rotates its wrapping like any other).
  let auditKeyPromise: Promise<Buffer> | undefined;
  let auditChainKey: Buffer | undefined;
  const auditKey = (): Promise<Buffer> => {
    auditKeyPromise ??= dataKeys.forEncryption(AUDIT_KEY_OWNER).then(
      (dek) => {
        try {
          auditChainKey = deriveAuditChainKey(dek.key);
          return auditChainKey;
        } finally {
          dek.key.fill(0);
        }
      },
      (error: unknown) => {
        auditKeyPromise = undefined;
        throw error;
      },
    );
    return auditKeyPromise;
  };

  // Expired keys are zeroed on a timer too, not only when next read.
  const pruneTimer = setInterval(() => {
    dekCache.prune();
    records.prune();
  }, 1_000);
  pruneTimer.unref();

  const auditQueue = createAuditQueue({
    db,
    key: auditKey,
    ...auditOptions,
    onError: onBackgroundError,
    async afterAppend(trx, events) {
      const lastUse = new Map<string, Date>();
      for (const event of events) {
        if (event.action !== 'credential.reveal' || event.purpose === 'validate' || !event.credentialId)
          continue;
        const previous = lastUse.get(event.credentialId);
        if (!previous || previous < event.occurredAt) lastUse.set(event.credentialId, event.occurredAt);
      }
      // In id order, so two instances flushing at once lock the same rows in the same order.
      for (const [credentialId, usedAt] of [...lastUse].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        await trx
          .updateTable('credentials')
          .set({ last_used_at: usedAt })
          .where('id', '=', credentialId)
          .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', usedAt)]))
          .execute();
      }
    },
  });

  const context = (row: Pick<CredentialRow, 'user_id' | 'id' | 'provider'>): RecordContext => ({
    tenant,
    userId: row.user_id,
    credentialId: row.id,
    provider: row.provider,
    field: RECORD_FIELD,
  });

  async function writeAudit(events: AuditEvent[]) {
    const chainKey = await auditKey();
    await db.transaction().execute((trx) => appendAuditEvents(trx, chainKey, events));
  }

  function currentRow(executor: Kysely<Tables> | Transaction<Tables>, userId: string, provider: string) {
    return executor
      .selectFrom('credentials')
      .selectAll()
      .where('user_id', '=', userId)
      .where('provider', '=', provider)
      .where('is_current', '=', true)
      .executeTakeFirst();
  }

  async function runValidation(spec: CredentialSpec, fields: CredentialFields): Promise<ValidationResult> {
    if (!validate) {
      throw new KeyhavenError(
        'invalid_config',
        'credential validation is not configured; store with validate: false to keep the credential unverified',
      );
    }
    let result: ValidationResult;
    try {
      result = await validate(spec.provider, toSecrets(fields));
    } catch {
      // A validator that throws tells us nothing reliable about the key; its message may hold it.
      return { status: 'unreachable' };
    }
    if (result.status === 'invalid') {
      const reason = redactSecrets(result.reason, secretStrings(spec, fields)).slice(0, 500);
      return { status: 'invalid', reason: reason || 'the provider refused the credential' };
    }
    return result;
  }

  function validationError(provider: string, result: ValidationResult): KeyhavenError | undefined {
    switch (result.status) {
      case 'valid':
        return undefined;
      case 'invalid':
        return new KeyhavenError(
          'credential_invalid',
          `${provider} refused the credential: ${result.reason}`,
          {
            details: { reason: result.reason },
          },
        );
      case 'unreachable':
        return new KeyhavenError(
          'provider_unavailable',
          `${provider} could not be reached to validate the credential; try again, or store it with validate: false`,
        );
      case 'rate_limited':
        return new KeyhavenError(
          'provider_rate_limited',
          `${provider} rate-limited the validation request; try again later`,
          result.retryAfterMs === undefined ? {} : { retryAfterMs: result.retryAfterMs },
        );
    }
  }

  /** Stores a credential, validating it with the provider first; storing again rotates to a new version. */
  async function store(input: {
    userId: string;
    provider: string;
    credentials: Record<string, unknown>;
    validate?: boolean;
    actor?: string;
  }): Promise<CredentialSummary> {
    const userId = parse(userIdSchema, input.userId, 'invalid userId');
    const spec = credentialSpec(catalog, input.provider);
    const actor = parse(actorSchema, input.actor ?? 'system', 'invalid actor');
    const fields = parseCredentials(spec, input.credentials);
    const provider = spec.provider;

    let status: CredentialStatus = 'unverified';
    let validatedAt: Date | null = null;
    if (input.validate !== false) {
      const result = await runValidation(spec, fields);
      const error = validationError(provider, result);
      if (error) {
        if (result.status === 'invalid') {
          await writeAudit([
            {
              action: 'credential.reject',
              actor,
              userId,
              provider,
              occurredAt: clock(),
              detail: { reason: result.reason },
            },
          ]);
        }
        throw error;
      }
      status = 'valid';
      validatedAt = clock();
    }

    const credentialId = newId('cred');
    const dek = await dataKeys.forEncryption(userId).catch((error: unknown) => {
      if (error instanceof DecryptionError) {
        throw new KeyhavenError(
          'decryption_failed',
          "this user's data key could not be unwrapped with the configured master keys",
        );
      }
      throw error;
    });
    let blob: Buffer;
    let fingerprint: string;
    const plaintext = Buffer.from(JSON.stringify(fields));
    try {
      blob = encryptRecord(dek, plaintext, context({ user_id: userId, id: credentialId, provider }));
      fingerprint = fingerprintFields(dek.key, spec, fields);
    } finally {
      dek.key.fill(0);
      plaintext.fill(0);
    }

    const now = clock();
    const chainKey = await auditKey();
    const row = await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${STORE_LOCK_NAMESPACE}, hashtext(${`${userId}|${provider}`}))`.execute(
        trx,
      );
      const current = await currentRow(trx, userId, provider);
      const latest = await trx
        .selectFrom('credentials')
        .select((eb) => eb.fn.max('version').as('version'))
        .where('user_id', '=', userId)
        .where('provider', '=', provider)
        .executeTakeFirst();
      if (current) {
        await trx
          .updateTable('credentials')
          .set({ is_current: false, superseded_at: now, updated_at: now })
          .where('id', '=', current.id)
          .execute();
      }
      const inserted = await trx
        .insertInto('credentials')
        .values({
          id: credentialId,
          user_id: userId,
          provider,
          version: (latest?.version ?? 0) + 1,
          dek_version: dek.version,
          secret: blob,
          masked_key: maskSecret(spec.maskSource(fields)),
          fingerprint,
          status,
          status_reason: null,
          is_current: true,
          created_at: current?.created_at ?? now,
          updated_at: now,
          last_validated_at: validatedAt,
          last_used_at: null,
          superseded_at: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      const purged = await purgeReleased(trx, userId, provider);
      await appendAuditEvents(trx, chainKey, [
        {
          action: 'credential.store',
          actor,
          userId,
          provider,
          credentialId,
          occurredAt: now,
          detail: { version: inserted.version, rotated: current !== undefined, status, fingerprint },
        },
        ...purged.map(
          (row): AuditEvent => ({
            action: 'credential.purge',
            actor,
            userId,
            provider,
            credentialId: row.id,
            occurredAt: now,
            detail: { version: row.version },
          }),
        ),
      ]);
      await invalidation.notify(trx, userId, provider);
      return inserted;
    });
    invalidate(userId, provider);
    return summarize(provider, row);
  }

  /** Deletes superseded versions that nothing references any more. */
  function purgeReleased(trx: Transaction<Tables>, userId: string, provider: string) {
    return trx
      .deleteFrom('credentials')
      .where('user_id', '=', userId)
      .where('provider', '=', provider)
      .where('is_current', '=', false)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('credential_references')
              .select(sql.lit(1).as('one'))
              .whereRef('credential_references.credential_id', '=', 'credentials.id'),
          ),
        ),
      )
      .returning(['id', 'version'])
      .execute();
  }

  function decrypted(row: CredentialRow, plaintext: Buffer): RevealedCredential {
    try {
      const fields = JSON.parse(plaintext.toString('utf8')) as CredentialFields;
      return {
        credentialId: row.id,
        provider: row.provider,
        version: row.version,
        credentials: toSecrets(fields),
      };
    } finally {
      plaintext.fill(0);
    }
  }

  function undecryptable(error: unknown): never {
    if (error instanceof DecryptionError) {
      throw new KeyhavenError('decryption_failed', 'the stored credential could not be decrypted');
    }
    throw error;
  }

  /**
   * A user's data key. One that cannot be unwrapped (a tampered wrapped key, a master key below the
   * minimum decryption version or missing from the keyring) is a decryption failure, not a crash.
   */
  async function dataKeyFor(userId: string, version: number): Promise<Buffer | undefined> {
    try {
      return await dataKeys.get(userId, version);
    } catch (error) {
      undecryptable(error);
    }
  }

  /**
   * The current row and its verified record key, from the cache or the database. The key returned is
   * a copy the caller zeroes: the cache zeroes its own on eviction, which can happen between awaits.
   */
  async function openCurrent(userId: string, provider: string): Promise<OpenRecord> {
    const cacheKey = recordKey(userId, provider);
    const cached = records.get(cacheKey);
    if (cached) return { row: cached.row, recordKey: copyKey(cached.recordKey) };
    const seen = generation;
    const row = await currentRow(db, userId, provider);
    if (!row) throw notFound(provider);
    const dek = await dataKeyFor(userId, row.dek_version);
    if (!dek) throw notFound(provider);
    let key: Buffer;
    try {
      key = openRecordKey(row.secret, {
        get: (version) => (version === row.dek_version ? dek : undefined),
        minVersion: 1,
      });
    } catch (error) {
      undecryptable(error);
    } finally {
      dek.fill(0);
    }
    if (seen === generation) records.set(cacheKey, { row, recordKey: copyKey(key) });
    return { row, recordKey: key };
  }

  function auditReveal(row: CredentialRow, purpose: string, actor: string) {
    return auditQueue.push({
      action: 'credential.reveal',
      actor,
      userId: row.user_id,
      provider: row.provider,
      credentialId: row.id,
      purpose,
      occurredAt: clock(),
    });
  }

  /** Decrypts the current credential for a stated purpose. Every reveal is audited. */
  async function reveal(input: {
    userId: string;
    provider: string;
    purpose: string;
    actor?: string;
  }): Promise<RevealedCredential> {
    const userId = parse(userIdSchema, input.userId, 'invalid userId');
    const { provider } = credentialSpec(catalog, input.provider);
    const purpose = parse(purposeSchema, input.purpose, 'invalid purpose');
    const actor = parse(actorSchema, input.actor ?? 'system', 'invalid actor');
    const record = await openCurrent(userId, provider);
    let plaintext: Buffer;
    try {
      plaintext = decryptWithRecordKey(record.row.secret, record.recordKey, context(record.row));
    } catch (error) {
      records.delete(recordKey(userId, provider));
      undecryptable(error);
    } finally {
      record.recordKey.fill(0);
    }
    const revealed = decrypted(record.row, plaintext);
    await auditReveal(record.row, purpose, actor);
    return revealed;
  }

  /** Decrypts one specific version (a video job polls with the version it started with). */
  async function revealVersion(input: {
    userId: string;
    credentialId: string;
    purpose: string;
    actor?: string;
  }): Promise<RevealedCredential> {
    const userId = parse(userIdSchema, input.userId, 'invalid userId');
    const credentialId = parse(credentialIdSchema, input.credentialId, 'invalid credentialId');
    const purpose = parse(purposeSchema, input.purpose, 'invalid purpose');
    const actor = parse(actorSchema, input.actor ?? 'system', 'invalid actor');
    const row = await db
      .selectFrom('credentials')
      .selectAll()
      .where('id', '=', credentialId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!row) throw new KeyhavenError('not_found', 'no such credential for this user');
    const dek = await dataKeyFor(userId, row.dek_version);
    if (!dek) throw new KeyhavenError('not_found', 'no such credential for this user');
    let plaintext: Buffer;
    try {
      plaintext = decryptRecord(
        row.secret,
        { get: (v) => (v === row.dek_version ? dek : undefined), minVersion: 1 },
        context(row),
      );
    } catch (error) {
      undecryptable(error);
    } finally {
      dek.fill(0);
    }
    const revealed = decrypted(row, plaintext);
    await auditReveal(row, purpose, actor);
    return revealed;
  }

  /**
   * Whether the user's current credential for the provider has these secret fields, by comparing keyed
   * fingerprints: nothing stored is decrypted or revealed (bulk import skips what is already there).
   */
  async function matchesCurrent(input: {
    userId: string;
    provider: string;
    credentials: Record<string, unknown>;
  }): Promise<boolean> {
    const userId = parse(userIdSchema, input.userId, 'invalid userId');
    const spec = credentialSpec(catalog, input.provider);
    const fields = parseCredentials(spec, input.credentials);
    const row = await currentRow(db, userId, spec.provider);
    if (!row) return false;
    const dek = await dataKeyFor(userId, row.dek_version);
    if (!dek) return false;
    let candidate: string;
    try {
      candidate = fingerprintFields(dek, spec, fields);
    } finally {
      dek.fill(0);
    }
    const expected = Buffer.from(row.fingerprint);
    const actual = Buffer.from(candidate);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  async function get(input: { userId: string; provider: string }): Promise<CredentialSummary> {
    const userId = parse(userIdSchema, input.userId, 'invalid userId');
    const { provider } = credentialSpec(catalog, input.provider);
    return summarize(provider, await currentRow(db, userId, provider));
  }

  /** A summary for every provider of the catalog, connected or not. */
  async function list(input: { userId: string }): Promise<CredentialSummary[]> {
    const userId = parse(userIdSchema, input.userId, 'invalid userId');
    const rows = await db
      .selectFrom('credentials')
      .selectAll()
      .where('user_id', '=', userId)
      .where('is_current', '=', true)
      .execute();
    const byProvider = new Map(rows.map((row) => [row.provider, row]));
    return catalog.providers().map((provider) => summarize(provider, byProvider.get(provider)));
  }

  async function setStatus(input: {
    userId: string;
    provider: string;
    status: 'valid' | 'invalid';
    reason?: string;
    credentialId?: string;
    actor?: string;
  }): Promise<CredentialSummary> {
    const userId = parse(userIdSchema, input.userId, 'invalid userId');
    const { provider } = credentialSpec(catalog, input.provider);
    const actor = parse(actorSchema, input.actor ?? 'system', 'invalid actor');
    const credentialId =
      input.credentialId === undefined
        ? undefined
        : parse(credentialIdSchema, input.credentialId, 'invalid credentialId');
    const reason =
      input.status === 'invalid'
        ? parse(reasonSchema, input.reason ?? 'refused by the provider', 'invalid reason')
        : null;
    const now = clock();
    const chainKey = await auditKey();
    const row = await db.transaction().execute(async (trx) => {
      const current = await currentRow(trx, userId, provider);
      if (!current) throw notFound(provider);
      // A status learnt from an older version (a call that raced a rotation) must not mark the new one.
      if (credentialId !== undefined && credentialId !== current.id) return current;
      const updated = await trx
        .updateTable('credentials')
        .set({
          status: input.status,
          status_reason: reason,
          updated_at: now,
          ...(input.status === 'valid' ? { last_validated_at: now } : {}),
        })
        .where('id', '=', current.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendAuditEvents(trx, chainKey, [
        {
          action: 'credential.status',
          actor,
          userId,
          provider,
          credentialId: current.id,
          occurredAt: now,
          detail: { status: input.status, reason },
        },
      ]);
      return updated;
    });
    return summarize(provider, row);
  }

  /** Re-validates the stored credential with the provider and records the outcome. */
  async function test(input: {
    userId: string;
    provider: string;
    actor?: string;
  }): Promise<{ result: ValidationResult; summary: CredentialSummary }> {
    const revealed = await reveal({ ...input, purpose: 'validate' });
    const spec = credentialSpec(catalog, revealed.provider);
    const fields = Object.fromEntries(
      Object.entries(revealed.credentials).map(([name, value]) => [name, value.reveal()]),
    );
    const result = await runValidation(spec, fields);
    const base = {
      userId: input.userId,
      provider: spec.provider,
      credentialId: revealed.credentialId,
      actor: input.actor,
    };
    if (result.status === 'valid') return { result, summary: await setStatus({ ...base, status: 'valid' }) };
    if (result.status === 'invalid') {
      return { result, summary: await setStatus({ ...base, status: 'invalid', reason: result.reason }) };
    }
    await writeAudit([
      {
        action: 'credential.validate',
        actor: input.actor ?? 'system',
        userId: input.userId,
        provider: spec.provider,
        credentialId: revealed.credentialId,
        occurredAt: clock(),
        detail: { result: result.status },
      },
    ]);
    return { result, summary: await get(input) };
  }

  /** Deletes every version of a user's credential for a provider. */
  async function remove(input: { userId: string; provider: string; actor?: string }): Promise<void> {
    const userId = parse(userIdSchema, input.userId, 'invalid userId');
    const { provider } = credentialSpec(catalog, input.provider);
    const actor = parse(actorSchema, input.actor ?? 'system', 'invalid actor');
    const chainKey = await auditKey();
    await db.transaction().execute(async (trx) => {
      const deleted = await trx
        .deleteFrom('credentials')
        .where('user_id', '=', userId)
        .where('provider', '=', provider)
        .returning(['id', 'version'])
        .execute();
      if (deleted.length === 0) throw notFound(provider);
      await appendAuditEvents(trx, chainKey, [
        {
          action: 'credential.remove',
          actor,
          userId,
          provider,
          occurredAt: clock(),
          detail: { versions: deleted.length },
        },
      ]);
      await invalidation.notify(trx, userId, provider);
    });
    invalidate(userId, provider);
  }

  /**
   * Crypto-shreds a user: the wrapped data keys go first, so any copy of the user's rows (a backup)
   * can no longer be decrypted with the live keyring; then every row of the user.
   */
  async function shred(input: {
    userId: string;
    actor?: string;
  }): Promise<{ dataKeys: number; credentials: number }> {
    const userId = parse(userIdSchema, input.userId, 'invalid userId');
    const actor = parse(actorSchema, input.actor ?? 'system', 'invalid actor');
    const chainKey = await auditKey();
    const counts = await db.transaction().execute(async (trx) => {
      const keys = await trx
        .deleteFrom('data_keys')
        .where('user_id', '=', userId)
        .returning('version')
        .execute();
      await trx.deleteFrom('credential_references').where('user_id', '=', userId).execute();
      const credentials = await trx
        .deleteFrom('credentials')
        .where('user_id', '=', userId)
        .returning('id')
        .execute();
      const result = { dataKeys: keys.length, credentials: credentials.length };
      await appendAuditEvents(trx, chainKey, [
        { action: 'user.shred', actor, userId, occurredAt: clock(), detail: result },
      ]);
      await invalidation.notify(trx, userId);
      return result;
    });
    dataKeys.forget(userId);
    invalidate(userId);
    return counts;
  }

  /** Keeps a credential version alive while something (a video job) still needs it. */
  async function retain(input: { userId: string; credentialId: string; holder: string }): Promise<void> {
    const userId = parse(userIdSchema, input.userId, 'invalid userId');
    const credentialId = parse(credentialIdSchema, input.credentialId, 'invalid credentialId');
    const holder = parse(holderSchema, input.holder, 'invalid holder');
    const row = await db
      .selectFrom('credentials')
      .select('id')
      .where('id', '=', credentialId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!row) throw new KeyhavenError('not_found', 'no such credential for this user');
    await db
      .insertInto('credential_references')
      .values({ credential_id: credentialId, holder, user_id: userId })
      .onConflict((conflict) => conflict.columns(['credential_id', 'holder']).doNothing())
      .execute();
  }

  /** Drops a reference; a superseded version nothing references any more is deleted. */
  async function release(input: { userId: string; credentialId: string; holder: string }): Promise<void> {
    const userId = parse(userIdSchema, input.userId, 'invalid userId');
    const credentialId = parse(credentialIdSchema, input.credentialId, 'invalid credentialId');
    const holder = parse(holderSchema, input.holder, 'invalid holder');
    const chainKey = await auditKey();
    await db.transaction().execute(async (trx) => {
      const released = await trx
        .deleteFrom('credential_references')
        .where('credential_id', '=', credentialId)
        .where('holder', '=', holder)
        .where('user_id', '=', userId)
        .returning('credential_id')
        .executeTakeFirst();
      if (!released) {
        // Releasing a reference that is already gone is harmless, but only on one's own credential.
        const owned = await trx
          .selectFrom('credentials')
          .select('id')
          .where('id', '=', credentialId)
          .where('user_id', '=', userId)
          .executeTakeFirst();
        if (!owned) throw new KeyhavenError('not_found', 'no such credential for this user');
        return;
      }
      const row = await trx
        .selectFrom('credentials')
        .select(['provider'])
        .where('id', '=', credentialId)
        .executeTakeFirst();
      if (!row) return;
      await sql`select pg_advisory_xact_lock(${STORE_LOCK_NAMESPACE}, hashtext(${`${userId}|${row.provider}`}))`.execute(
        trx,
      );
      const purged = await purgeReleased(trx, userId, row.provider);
      await appendAuditEvents(
        trx,
        chainKey,
        purged.map((entry) => ({
          action: 'credential.purge' as const,
          actor: 'system',
          userId,
          provider: row.provider,
          credentialId: entry.id,
          occurredAt: clock(),
          detail: { version: entry.version },
        })),
      );
    });
  }

  /**
   * Raises (or lowers) the oldest master-key version that may still unwrap data keys. Raising it is
   * refused while any data key is still wrapped by an older version: rewrap first.
   */
  async function setMinDecryptVersion(input: { version: number; actor?: string }): Promise<void> {
    const actor = parse(actorSchema, input.actor ?? 'system', 'invalid actor');
    const version = input.version;
    if (!Number.isInteger(version) || version < 1) {
      throw new KeyhavenError('invalid_request', 'the minimum decryption version must be a positive integer');
    }
    if (version > kms.activeVersion()) {
      throw new KeyhavenError(
        'invalid_request',
        `the minimum decryption version cannot exceed the active version v${kms.activeVersion()}`,
      );
    }
    const chainKey = await auditKey();
    await db.transaction().execute(async (trx) => {
      await trx.selectFrom('keyring_state').select('id').where('id', '=', 1).forUpdate().execute();
      const remaining = await trx
        .selectFrom('data_keys')
        .select((eb) => eb.fn.countAll<string>().as('count'))
        .where('kek_version', '<', version)
        .executeTakeFirstOrThrow();
      if (Number(remaining.count) > 0) {
        throw new KeyhavenError(
          'key_version_in_use',
          `${remaining.count} data keys are still wrapped by a master key older than v${version}; run rewrap first`,
          { details: { remaining: Number(remaining.count) } },
        );
      }
      await trx
        .updateTable('keyring_state')
        .set({ min_decrypt_version: version, updated_at: clock() })
        .where('id', '=', 1)
        .execute();
      await appendAuditEvents(trx, chainKey, [
        { action: 'keyring.min_decrypt_version', actor, occurredAt: clock(), detail: { version } },
      ]);
    });
  }

  async function keyStatus() {
    return {
      activeVersion: kms.activeVersion(),
      versions: [...kms.versions()],
      minDecryptVersion: await dataKeys.minDecryptVersion(),
      dataKeysByMasterKeyVersion: Object.fromEntries(await countDataKeysByKekVersion(db)),
    };
  }

  function rewrap(options: Omit<RewrapOptions, 'db' | 'kms' | 'tenant' | 'auditKey'> = {}) {
    return rewrapDataKeys({ db, kms, tenant, clock, auditKey, ...options });
  }

  return {
    store,
    reveal,
    revealVersion,
    matchesCurrent,
    get,
    list,
    test,
    markValidated: (input: { userId: string; provider: string; credentialId?: string; actor?: string }) =>
      setStatus({ ...input, status: 'valid' }),
    markInvalid: (input: {
      userId: string;
      provider: string;
      reason: string;
      credentialId?: string;
      actor?: string;
    }) => setStatus({ ...input, status: 'invalid' }),
    remove,
    shred,
    retain,
    release,
    rewrap,
    setMinDecryptVersion,
    keyStatus,
    verifyAudit: async () => verifyAuditLog(db, await auditKey()),
    listAudit: (query: Parameters<typeof listAuditEvents>[1] = {}) => listAuditEvents(db, query),
    /** Called after every credential change on this instance or, over LISTEN/NOTIFY, on another one. */
    onInvalidate(listener: (message: InvalidationMessage) => void): void {
      listeners.push(listener);
    },
    /** Writes every pending audit event (reveals are batched). */
    flush: () => auditQueue.flush(),
    /** Flushes, then drops every cached key. The database is the caller's to close. */
    async close() {
      clearInterval(pruneTimer);
      await auditQueue.close();
      records.clear();
      dekCache.clear();
      auditChainKey?.fill(0);
      auditKeyPromise = undefined;
    },
  };
}

export type Vault = ReturnType<typeof createVault>;
