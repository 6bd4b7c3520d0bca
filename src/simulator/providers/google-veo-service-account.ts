import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Simulator } from '../server.ts';
import { type GoogleVeoSimulation, googleVeoSimulation } from './google-veo.ts';
import { TOKEN_PATH } from './google-veo-vertex.ts';

/**
 * A throwaway Google service account for tests and local development: a fresh RSA key pair, a key file
 * shaped like the ones Google hands out (token_uri pointing at the simulator's token endpoint), and its
 * public key registered with the simulation. No private key is ever stored in the repository.
 */
export interface TestServiceAccount {
  /** The key file, as a user would paste it. */
  json: string;
  clientEmail: string;
  privateKeyId: string;
  /** PKCS#8 PEM, for tests that check it never leaks. */
  privateKey: string;
  projectId: string;
  tokenURL: string;
}

export interface TestServiceAccountOptions {
  simulation?: GoogleVeoSimulation;
  projectId?: string;
  /** false: a real account without a Vertex AI role on its project (its calls get a 403). */
  allowed?: boolean;
}

export function createTestServiceAccount(
  simulator: Pick<Simulator, 'baseURL'>,
  {
    simulation = googleVeoSimulation,
    projectId = 'keyhaven-sim',
    allowed = true,
  }: TestServiceAccountOptions = {},
): TestServiceAccount {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const name = `veo-test-${randomBytes(4).toString('hex')}`;
  const clientEmail = `${name}@${projectId}.iam.gserviceaccount.com`;
  const privateKeyId = randomBytes(20).toString('hex');
  const tokenURL = `${simulator.baseURL(simulation.id)}${TOKEN_PATH}`;
  simulation.registerServiceAccount({
    clientEmail,
    privateKeyId,
    publicKey: createPublicKey(publicKey),
    projectId,
    allowed,
  });
  const json = JSON.stringify(
    {
      type: 'service_account',
      project_id: projectId,
      private_key_id: privateKeyId,
      private_key: privateKey,
      client_email: clientEmail,
      client_id: String(BigInt(`0x${randomBytes(8).toString('hex')}`)),
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: tokenURL,
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(clientEmail)}`,
      universe_domain: 'googleapis.com',
    },
    null,
    2,
  );
  return { json, clientEmail, privateKeyId, privateKey, projectId, tokenURL };
}
