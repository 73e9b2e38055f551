// End-to-end test in real VS Code (code-server, driven in headless Chromium by playwright-core). It installs the
// built .vsix (with its bundled server) into a fresh profile, opens a fixture workspace, and checks that the Problems
// panel lists the finding with its code, that the quick fix chosen with Ctrl+. rewrites the file on disk, and that
// fix-on-save (source.fixAll.asynclint) works. Screenshots of a failure go to target/editors/screenshots/.
// Usage: node e2e/run.mjs  (after build.sh and install-code-server.sh; editors/test.sh does both).
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repository = path.resolve(here, "../../..");
const codeServer = path.join(repository, "target/editors/code-server/node_modules/.bin/code-server");
const vsix = path.resolve(here, "../asynclint.vsix");
const work = path.join(repository, "target/editors/vscode-e2e");
const screenshots = path.join(repository, "target/editors/screenshots");
const WAIT = 60_000;

const BLOCKING_HTTP = "import requests\n\n\nasync def fetch(url):\n    return requests.get(url)\n";
const BLOCKING_SLEEP = "import time\n\n\nasync def main():\n    time.sleep(1)\n";

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function until(description, check, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${description}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function prepareProfile() {
  fs.rmSync(work, { recursive: true, force: true });
  const userData = path.join(work, "user-data");
  const extensions = path.join(work, "extensions");
  const workspace = path.join(work, "workspace");
  fs.mkdirSync(path.join(userData, "User"), { recursive: true });
  fs.mkdirSync(workspace, { recursive: true });
  fs.writeFileSync(
    path.join(userData, "User", "settings.json"),
    JSON.stringify(
      {
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": false,
        "security.workspace.trust.enabled": false,
        "telemetry.telemetryLevel": "off",
        "extensions.autoUpdate": false,
        "extensions.autoCheckUpdates": false,
        "extensions.ignoreRecommendations": true,
        "files.autoSave": "off",
        "editor.codeActionsOnSave": { "source.fixAll.asynclint": "explicit" },
      },
      null,
      2,
    ),
  );
  fs.writeFileSync(path.join(workspace, "pyproject.toml"), '[project]\nname = "demo"\n');
  fs.writeFileSync(path.join(workspace, "fetch.py"), BLOCKING_HTTP);
  fs.writeFileSync(path.join(workspace, "sleep.py"), BLOCKING_SLEEP);
  execFileSync(codeServer, ["--install-extension", vsix, "--extensions-dir", extensions, "--user-data-dir", userData], {
    stdio: "inherit",
  });
  return { userData, extensions, workspace };
}

async function openFile(page, name) {
  const entry = page.locator(".explorer-folders-view .monaco-list-row", { hasText: name });
  await entry.first().waitFor({ timeout: WAIT });
  await entry.first().dblclick();
  await page.locator(`.tab.active[aria-label^="${name}"]`).waitFor({ timeout: WAIT });
}

/** Saves the active editor with Ctrl+S once the editor has the focus, pressing again while the tab stays dirty. */
async function save(page, name) {
  const dirty = page.locator(`.tab.active.dirty[aria-label^="${name}"]`);
  await until(`${name} to be saved`, async () => {
    await page.locator(".monaco-editor.focused, .monaco-editor .view-lines").first().focus().catch(() => {});
    await page.keyboard.press("Control+S");
    await page.waitForTimeout(500);
    return (await dirty.count()) === 0;
  });
}

async function main() {
  const { userData, extensions, workspace } = prepareProfile();
  const port = await freePort();
  const log = fs.openSync(path.join(work, "code-server.log"), "w");
  // No asynclint on PATH: the extension must use the binary bundled in the .vsix.
  const environment = { ...process.env, PATH: "/usr/local/bin:/usr/bin:/bin", ASYNCLINT_PATH: "" };
  const server = spawn(
    codeServer,
    [
      "--auth", "none", "--bind-addr", `127.0.0.1:${port}`, "--user-data-dir", userData,
      "--extensions-dir", extensions, "--disable-telemetry", "--disable-update-check",
      "--disable-workspace-trust", workspace,
    ],
    { stdio: ["ignore", log, log], env: environment },
  );
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  let step = "start";
  try {
    step = "load the workbench";
    await until("code-server to listen", async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
      } catch {
        return false;
      }
    });
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator(".monaco-workbench").waitFor({ timeout: WAIT });

    step = "see the finding in the Problems panel";
    await openFile(page, "fetch.py");
    await page.locator(".squiggly-warning").first().waitFor({ timeout: WAIT });
    await page.keyboard.press("Control+Shift+M");
    const problem = page.locator(".markers-panel .monaco-list-row", { hasText: "AL102" });
    await problem.first().waitFor({ timeout: WAIT });
    console.log(`problems panel: ${(await problem.first().innerText()).replace(/\s+/g, " ")}`);

    step = "apply the quick fix with Ctrl+.";
    await page.locator(".monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+G");
    await page.keyboard.type("5:16");
    await page.keyboard.press("Enter");
    await page.keyboard.press("Control+.");
    const fixItem = page.locator(".action-widget .monaco-list-row", { hasText: "worker thread" });
    await fixItem.first().waitFor({ timeout: WAIT });
    // The menu answers the keyboard; mouse clicks on it are intercepted.
    const rows = await page.locator(".action-widget .monaco-list-row.action").allInnerTexts();
    const index = rows.findIndex((text) => text.includes("worker thread"));
    for (let i = 0; i < index; i++) {
      await page.keyboard.press("ArrowDown");
    }
    await page.keyboard.press("Enter");
    await page.locator('.tab.active.dirty[aria-label^="fetch.py"]').waitFor({ timeout: WAIT });
    await save(page, "fetch.py");
    const fetchFile = path.join(workspace, "fetch.py");
    await until("the quick fix on disk", () => fs.readFileSync(fetchFile, "utf8").includes("asyncio.to_thread(requests.get, url)"));
    console.log("quick fix: fetch.py now reads " + JSON.stringify(fs.readFileSync(fetchFile, "utf8")));

    step = "fix on save";
    await openFile(page, "sleep.py");
    await page.locator(".squiggly-warning").first().waitFor({ timeout: WAIT });
    await page.locator(".monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("# saved\n");
    await save(page, "sleep.py");
    const sleepFile = path.join(workspace, "sleep.py");
    await until("the fix-on-save result on disk", () => fs.readFileSync(sleepFile, "utf8").includes("await asyncio.sleep(1)"));
    console.log("fix on save: sleep.py now reads " + JSON.stringify(fs.readFileSync(sleepFile, "utf8")));
    console.log("PASS: VS Code (code-server) end-to-end");
  } catch (error) {
    fs.mkdirSync(screenshots, { recursive: true });
    const shot = path.join(screenshots, `vscode-${step.replace(/\W+/g, "-")}.png`);
    await page.screenshot({ path: shot }).catch(() => {});
    console.error(`FAIL at "${step}": ${error.message}\nscreenshot: ${shot}\ncode-server log: ${path.join(work, "code-server.log")}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
    server.kill();
  }
}

await main();
