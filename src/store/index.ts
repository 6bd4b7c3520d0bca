export {
  type Database,
  type DatabaseKind,
  isDatabaseUnavailable,
  migrateToLatest,
  type OpenDatabaseOptions,
  openDatabase,
  survivesLostConnections,
} from './database.ts';
export type {
  AuditEventRow,
  CredentialRow,
  CredentialStatus,
  DataKeyRow,
  NewCredentialRow,
  Tables,
} from './tables.ts';
