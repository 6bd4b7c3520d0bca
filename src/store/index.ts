export {
  type Database,
  type DatabaseKind,
  migrateToLatest,
  type OpenDatabaseOptions,
  openDatabase,
} from './database.ts';
export type {
  AuditEventRow,
  CredentialRow,
  CredentialStatus,
  DataKeyRow,
  NewCredentialRow,
  Tables,
} from './tables.ts';
