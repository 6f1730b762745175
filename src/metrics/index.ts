import { DirectProvider, type DirectProviderOptions } from './direct.js';
import { PrometheusProvider } from './prometheus.js';
import type { MetricsProvider } from './provider.js';

export type ProviderChoice =
  | { readonly kind: 'prometheus'; readonly url: string }
  | ({ readonly kind: 'direct' } & DirectProviderOptions);

/** The one place a provider is chosen: Prometheus when its URL is set, else the proxies directly. */
export function createMetricsProvider(choice: ProviderChoice): MetricsProvider {
  switch (choice.kind) {
    case 'prometheus':
      return new PrometheusProvider({ url: choice.url });
    case 'direct':
      return new DirectProvider(choice);
  }
}
