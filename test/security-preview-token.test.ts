// The preview page against a service started with --api_token, in headless chromium: the
// WebSocket is refused without the token, the page asks for it once, keeps it in
// sessionStorage (not in the URL), shows live frames over the WebSocket and sends it with its
// POSTs (Stop works). Skipped where no chromium is installed (test/helpers/preview-browser.ts).
import type { Browser, Page } from 'playwright-core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startSimulator, type Simulator } from '../src/sim/simulator.js'
import { launchChromium } from './helpers/preview-browser.js'
import { api, startCli, type CliProcess } from './helpers/service.js'

const TOKEN = 'page-token-ä/+=' // non-ASCII and base64 specials travel intact

interface Ctx {
  sim: Simulator
  cli: CliProcess
  browser: Browser
  page: Page
}
const test = suite<Ctx>('security-preview-token', {} as Ctx)

test.before(async (ctx) => {
  ctx.sim = await startSimulator({ rate: 20, width: 256, height: 128 })
  ctx.cli = await startCli(ctx.sim.address, ctx.sim.prefix, [
    '--auto_start',
    '--api_token',
    TOKEN,
    '--preview_rate',
    '10',
  ])
  ctx.browser = await launchChromium()
  ctx.page = await ctx.browser.newPage()
})

test.after(async (ctx) => {
  await ctx.browser?.close()
  await ctx.cli?.stop()
  await ctx.sim?.close()
})

test('the page asks for the token once, keeps it for the tab, uses it', async (ctx) => {
  const { page } = ctx
  const prompts: string[] = []
  page.on('dialog', (d) => {
    prompts.push(d.message())
    void d.accept(TOKEN)
  })
  await page.goto(`${ctx.cli.base}/`)
  await page.waitForFunction(() => window.__psenPreview?.framesShown >= 2, null, {
    timeout: 60_000,
  })
  const d = await page.evaluate(() => window.__psenPreview)
  assert.is(d.transport, 'websocket')
  assert.is(prompts.length, 1, prompts.join(' | '))
  assert.match(prompts[0] as string, /API token/)
  assert.is(await page.evaluate(() => sessionStorage.getItem('psen-api-token')), TOKEN)
  assert.not.match(page.url(), /token/)
  // POSTs carry it: Stop works without asking again.
  await page.click('#stop')
  await page.waitForFunction(
    async () => {
      const r = await fetch('/status')
      return ((await r.json()) as { status: string }).status === 'stopped'
    },
    null,
    { timeout: 20_000, polling: 200 },
  )
  assert.is(prompts.length, 1)
  // Without the token nobody else could have: a POST without it is refused.
  assert.is((await api(ctx.cli.base, 'POST', '/start')).status, 401)
})

// A browser is always there: Debian's chromium, else the @sparticuz/chromium devDependency's.
test.run()
