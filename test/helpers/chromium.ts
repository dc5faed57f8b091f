/**
 * A real browser for tests: Debian's Chromium (/usr/bin/chromium) driven by playwright-core,
 * headless, without the sandbox, QUIC or background traffic, closed in teardown.
 */
import { chromium, type Browser } from 'playwright-core';

export const BROWSER_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export async function launchChromium(t: Teardownable): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: BROWSER_ARGS });
  t.teardown(() => browser.close());
  return browser;
}
