import { VERTEX_BASE_URL_VARIABLE } from '../providers/google-veo/google-veo-adapter.ts';
import { baseURLVariable } from '../providers/registry.ts';
import { allSimulations, createTestServiceAccount } from './providers/index.ts';
import { type Simulator, type SimulatorOptions, startSimulator } from './server.ts';

/**
 * The provider simulator with every built-in provider: what `keyhaven simulate` runs and what tests
 * and local development point Keyhaven (or an official SDK) at instead of the real providers.
 */
export function startProviderSimulator(
  options: Omit<SimulatorOptions, 'providers'> = {},
): Promise<Simulator> {
  return startSimulator({ ...options, providers: allSimulations });
}

/** The environment that points Keyhaven at a running simulator. */
export function simulatorEnvironment(simulator: Pick<Simulator, 'baseURL'>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const simulation of allSimulations)
    env[baseURLVariable(simulation.id)] = simulator.baseURL(simulation.id);
  env[VERTEX_BASE_URL_VARIABLE] = simulator.baseURL('google-veo');
  return env;
}

/** The keys each simulated provider accepts out of the box. */
export function simulatorKeys(): Record<string, readonly string[]> {
  return Object.fromEntries(allSimulations.map((simulation) => [simulation.id, simulation.defaultKeys]));
}

export { createTestServiceAccount, type Simulator, startSimulator };
