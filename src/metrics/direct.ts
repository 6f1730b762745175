import { request } from 'undici';
import { MetricsError, ProviderUnreachableError } from './errors.js';
import { parseExposition } from './exposition.js';
import type { MetricsProvider, MetricsQuery, ReleaseMetrics, ReleaseTarget } from './provider.js';
import { increaseOver, type Scrape, selectors, sideFromIncreases } from './window.js';

export interface DirectProviderOptions {
  /** The /metrics URLs of the target's proxies as they are now; pods come and go between calls. */
  discover(target: ReleaseTarget): Promise<readonly string[]> | readonly string[];
  /** Longest window asked for; older scrapes are dropped. */
  retentionMs?: number;
  timeoutMs?: number;
  now?: () => number;
}

interface Proxy {
  /** When this provider first scraped it, and whether other proxies of the target were scraped before. */
  readonly firstSeen: number;
  readonly lateArrival: boolean;
  scrapes: Scrape[];
}

interface Tracked {
  readonly firstScrape: number;
  readonly proxies: Map<string, Proxy>;
}

/**
 * Scrapes the proxies' /metrics itself and diffs their counters over the window: no Prometheus needed.
 * A check's window starts where an earlier scrape was taken, so the controller calls `scrape` when it
 * publishes a route and `measure` every interval (each measure scrapes too); scraping more often makes
 * counter resets finer-grained, as for Prometheus.
 */
export class DirectProvider implements MetricsProvider {
  readonly name = 'direct';
  private readonly targets = new Map<string, Tracked>();
  private readonly retentionMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(private readonly options: DirectProviderOptions) {
    this.retentionMs = options.retentionMs ?? 3_600_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  /** Takes one scrape of every proxy of the target; throws when none answered. */
  async scrape(target: ReleaseTarget, at = this.now()): Promise<void> {
    const urls = await this.options.discover(target);
    const key = `${target.namespace}/${target.deployment}`;
    const tracked = this.targets.get(key) ?? { firstScrape: at, proxies: new Map<string, Proxy>() };
    this.targets.set(key, tracked);

    const results = await Promise.allSettled(urls.map((url) => this.fetchMetrics(url)));
    let failure: unknown;
    results.forEach((result, i) => {
      const url = urls[i] as string;
      if (result.status === 'rejected') {
        failure = result.reason;
        return;
      }
      const proxy = tracked.proxies.get(url) ?? {
        firstSeen: at,
        lateArrival: at > tracked.firstScrape,
        scrapes: [],
      };
      proxy.scrapes.push({ at, samples: result.value });
      proxy.scrapes = proxy.scrapes.filter(
        (s, j, all) => s.at >= at - this.retentionMs || j === all.length - 1,
      );
      tracked.proxies.set(url, proxy);
    });
    for (const [url, proxy] of tracked.proxies) {
      if ((proxy.scrapes.at(-1)?.at ?? 0) < at - this.retentionMs) tracked.proxies.delete(url);
    }
    if (urls.length > 0 && results.every((r) => r.status === 'rejected')) {
      if (failure instanceof MetricsError) throw failure;
      throw new ProviderUnreachableError(this.name, urls.join(', '), { cause: failure });
    }
  }

  async measure(query: MetricsQuery): Promise<ReleaseMetrics> {
    // Stamped with the query's time, so that the next window, which starts there, finds it as its baseline.
    await this.scrape(query.target, query.at);
    const tracked = this.targets.get(`${query.target.namespace}/${query.target.deployment}`);
    const from = query.at - query.windowMs;
    const increases = [...(tracked?.proxies.values() ?? [])].flatMap((proxy) =>
      increaseOver(proxy.scrapes, from, query.at, proxy.lateArrival),
    );
    const side = selectors(query.target.namespace, query.target.deployment, query.canaryTraffic);
    return {
      canary: sideFromIncreases(increases, side.canary, query.quantiles),
      primary: sideFromIncreases(increases, side.primary, query.quantiles),
    };
  }

  /** Drops what was kept for a target whose release ended. */
  forget(target: ReleaseTarget): void {
    this.targets.delete(`${target.namespace}/${target.deployment}`);
  }

  private async fetchMetrics(url: string) {
    let text: string;
    try {
      const res = await request(url, { headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
      text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
    } catch (err) {
      throw new ProviderUnreachableError(this.name, url, { cause: err });
    }
    return parseExposition(text);
  }
}
