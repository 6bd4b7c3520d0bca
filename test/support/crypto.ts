import type { RecordContext } from '../../src/crypto/index.ts';

/** A record context for crypto tests that do not care which row a blob belongs to. */
export const sampleContext: RecordContext = {
  tenant: 'default',
  userId: 'usr_alice',
  credentialId: 'cred_0001',
  provider: 'openai',
  field: 'secret',
};
