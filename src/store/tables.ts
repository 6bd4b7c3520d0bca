import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { BudgetTables } from './budget-tables.ts';
import type { UsageTables } from './usage-tables.ts';
import type { VideoTables } from './video-tables.ts';
import type { WebhookTables } from './webhook-tables.ts';

/**
 * Table types. Every row that belongs to a user carries user_id as the leading key column, so a user's
 * rows are found (and shredded) through an index.
 */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json = ColumnType<Record<string, unknown>, string, string>;

export interface DataKeysTable {
  user_id: string;
  version: number;
  kek_version: number;
  wrapped_key: Buffer;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  updated_at: Timestamp;
}

export type CredentialStatus = 'valid' | 'invalid' | 'unverified';

export interface CredentialsTable {
  id: string;
  user_id: string;
  provider: string;
  version: number;
  dek_version: number;
  secret: Buffer;
  masked_key: string;
  fingerprint: string;
  status: CredentialStatus;
  status_reason: string | null;
  is_current: boolean;
  created_at: Timestamp;
  updated_at: Timestamp;
  last_validated_at: Timestamp | null;
  last_used_at: Timestamp | null;
  superseded_at: Timestamp | null;
}

export interface CredentialReferencesTable {
  credential_id: string;
  holder: string;
  user_id: string;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

export interface AuditEventsTable {
  seq: ColumnType<string, string | number | bigint, never>;
  occurred_at: Timestamp;
  action: string;
  actor: string;
  user_id: string | null;
  provider: string | null;
  credential_id: string | null;
  purpose: string | null;
  detail: Json;
  prev_hash: string;
  hash: string;
}

export interface KeyringStateTable {
  id: Generated<number>;
  min_decrypt_version: number;
  updated_at: Timestamp;
}

export interface TokensTable {
  id: string;
  kind: 'admin' | 'user';
  user_id: string | null;
  token_hash: Buffer;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  expires_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface Tables extends VideoTables, WebhookTables, UsageTables, BudgetTables {
  data_keys: DataKeysTable;
  credentials: CredentialsTable;
  credential_references: CredentialReferencesTable;
  audit_events: AuditEventsTable;
  keyring_state: KeyringStateTable;
  tokens: TokensTable;
}

export type CredentialRow = Selectable<CredentialsTable>;
export type NewCredentialRow = Insertable<CredentialsTable>;
export type DataKeyRow = Selectable<DataKeysTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
export type TokenRow = Selectable<TokensTable>;
