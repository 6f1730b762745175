/**
 * The proxy's options that injection sets through the proxy container's env, keyed by the option's name in
 * `proxy/command.ts`. The command framework reads an option from `SLUICE_` and its name in upper snake
 * case (`appPort` ⇔ `SLUICE_APP_PORT`); `test/proxy/env.test.ts` checks that every name here is one the
 * proxy reads that way, so that the webhook and the proxy cannot drift apart.
 */
export const PROXY_ENV = {
  appPort: 'SLUICE_APP_PORT',
  /** Set only when it is not the proxy's default, `http`. */
  appProtocol: 'SLUICE_APP_PROTOCOL',
  listenPort: 'SLUICE_LISTEN_PORT',
  adminPort: 'SLUICE_ADMIN_PORT',
  controlUrl: 'SLUICE_CONTROL_URL',
  namespace: 'SLUICE_NAMESPACE',
  deployment: 'SLUICE_DEPLOYMENT',
  role: 'SLUICE_ROLE',
  revision: 'SLUICE_REVISION',
} as const;

export type ProxyEnvOption = keyof typeof PROXY_ENV;

/** Which proxies a proxy is: the primary's split traffic, the canary's always forward locally. */
export const PROXY_ROLES = ['primary', 'canary'] as const;
export type ProxyRole = (typeof PROXY_ROLES)[number];
