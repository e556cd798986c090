/** Error codes raised by the fleet simulator (simulator/). */
export const SIMULATOR_ERROR_CODES = {
  EL_ERR_SIM_OPTIONS:
    'Simulation options are invalid (unknown option, out-of-range value, inconsistent fault schedule).',
  EL_ERR_SIM_REPLAY: 'A replay dataset could not be read or parsed (unknown format, missing columns, no numeric rows).',
  EL_ERR_SIM_CONNECT: 'Simulated devices could not connect to the broker (refused, bad credentials, not authorised).',
  EL_ERR_SIM_MODE_UNAVAILABLE:
    'The requested simulation mode needs a part that is not present in this build (agent mode needs agent/create-agent.ts).',
  EL_ERR_SIM_PROXY: 'The fault-injection TCP proxy could not listen or reach its upstream.',
  EL_ERR_SIM_FAULT:
    'A fault could not be injected (no broker control given, no devices in the group, agent child failed).',
  EL_ERR_SIM_MAINTENANCE:
    'The maintenance API given to score the live path (maintenanceUrl) could not be read (not reachable, HTTP error).',
} as const satisfies Record<string, string>;
