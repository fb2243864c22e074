// Drives Debian's Chromium with playwright-core (from web/node_modules) for ws_browser_test:
// loads the page, waits until it writes END (its WebSocket closed), prints what it wrote.
// Usage: node ws_browser.cjs CHROMIUM PAGE_FILE WEB_DIR
const path = require('path');
const [, , browserPath, pageFile, webDir] = process.argv;
const { chromium } = require(path.join(webDir, 'node_modules', 'playwright-core'));

(async () => {
  const browser = await chromium.launch({
    executablePath: browserPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    timeout: 30000,
  });
  try {
    const page = await browser.newPage();
    await page.goto('file://' + pageFile);
    await page.waitForFunction(
      () => document.getElementById('o').textContent.includes('END'), null, { timeout: 20000 });
    process.stdout.write(await page.$eval('#o', (e) => e.textContent));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
