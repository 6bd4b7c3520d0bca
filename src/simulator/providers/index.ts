import type { ProviderSimulation } from '../types.ts';
import { anthropicSimulation } from './anthropic.ts';
import { googleGeminiSimulation } from './google-gemini.ts';
import { googleVeoSimulation } from './google-veo.ts';
import { lumaSimulation } from './luma.ts';
import { mistralSimulation } from './mistral.ts';
import { openaiSimulation } from './openai.ts';
import { runwaySimulation } from './runway.ts';
import { stabilitySimulation } from './stability.ts';

/** Every provider the simulator impersonates. */
export const allSimulations: readonly ProviderSimulation[] = [
  openaiSimulation,
  anthropicSimulation,
  googleGeminiSimulation,
  googleVeoSimulation,
  runwaySimulation,
  stabilitySimulation,
  lumaSimulation,
  mistralSimulation,
];

export { createTestServiceAccount, type TestServiceAccount } from './google-veo-service-account.ts';
