import { type Browser, chromium } from 'playwright-core'

/** Debian's Chromium (or CHROMIUM_BIN), headless, with the flags this closed network needs. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      // Without these Chromium keeps dialling out, and this machine refuses every connection.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}
