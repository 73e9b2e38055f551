// The VS Code extension: finds the asynclint binary, runs `asynclint server` over stdio with vscode-languageclient,
// and adds the commands, the status bar item and the settings.
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from "vscode-languageclient/node";
import { describeFailure, Found, resolveServer } from "./resolve";

const FIX_ALL_KIND = "source.fixAll.asynclint";

let client: LanguageClient | undefined;
let statusBar: vscode.StatusBarItem;
let output: vscode.OutputChannel;

function settings() {
  const config = vscode.workspace.getConfiguration("asynclint");
  return {
    enable: config.get<boolean>("enable", true),
    path: config.get<string>("path", ""),
    select: config.get<string[]>("select", []),
    ignore: config.get<string[]>("ignore", []),
    severity: config.get<Record<string, string>>("severity", {}),
  };
}

/** What the server reads from `initializationOptions` and `workspace/didChangeConfiguration`. */
function serverSettings() {
  const { enable, select, ignore, severity } = settings();
  return { enable, ignore, severity, ...(select.length > 0 ? { select } : {}) };
}

function showStatus(icon: string, text: string, tooltip: string, error = false) {
  statusBar.text = `$(${icon}) ${text}`;
  statusBar.tooltip = tooltip;
  statusBar.backgroundColor = error ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  statusBar.show();
}

function version(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, ["--version"], { timeout: 10_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
}

async function findServer(context: vscode.ExtensionContext): Promise<Found | undefined> {
  if (process.platform !== "win32") {
    // Unpacking a .vsix does not always keep the executable bit of the bundled binary.
    try {
      fs.chmodSync(path.join(context.extensionPath, "bin", "asynclint"), 0o755);
    } catch {
      // Nothing bundled.
    }
  }
  const result = await resolveServer({
    environmentPath: process.env.ASYNCLINT_PATH,
    settingPath: settings().path,
    extensionPath: context.extensionPath,
    searchPath: process.env.PATH,
    platform: process.platform,
    isFile: (file) => {
      try {
        return fs.statSync(file).isFile();
      } catch {
        return false;
      }
    },
    version,
  });
  if ("version" in result) {
    return result;
  }
  const problem = describeFailure(result);
  output.appendLine(`Cannot start asynclint: ${problem}`);
  showStatus("error", "asynclint", `No usable asynclint binary: ${problem}`, true);
  const choice = await vscode.window.showErrorMessage(
    "asynclint: no usable `asynclint` binary found. Install it (`pip install asynclint` or `cargo install`), or set `asynclint.path`.",
    "Install Instructions",
    "Show Output",
  );
  if (choice === "Install Instructions") {
    const readme = vscode.Uri.file(path.join(context.extensionPath, "README.md"));
    await vscode.commands.executeCommand("markdown.showPreview", readme);
  } else if (choice === "Show Output") {
    output.show();
  }
  return undefined;
}

/** Mirrors the server's work-done progress (workspace indexing) in the status bar item. */
function followProgress(languageClient: LanguageClient) {
  languageClient.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
    languageClient.onProgress(WorkDoneProgress.type, token, (value) => {
      if (value.kind === "end") {
        showStatus("check", "asynclint", "asynclint: ready");
        return;
      }
      const percentage = value.percentage === undefined ? "" : ` ${value.percentage}%`;
      const message = value.kind === "begin" ? value.title : value.message ?? "";
      showStatus("sync~spin", `asynclint${percentage}`, `asynclint: ${message}`);
    });
  });
}

async function start(context: vscode.ExtensionContext) {
  if (!settings().enable) {
    showStatus("circle-slash", "asynclint", "asynclint is disabled (asynclint.enable)");
    return;
  }
  showStatus("sync~spin", "asynclint", "asynclint: starting");
  const server = await findServer(context);
  if (!server) {
    return;
  }
  output.appendLine(`Using ${server.version} from ${server.path} (${server.source})`);
  const serverOptions: ServerOptions = { command: server.path, args: ["server"] };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "python" },
      { scheme: "untitled", language: "python" },
    ],
    initializationOptions: serverSettings(),
    outputChannel: output,
    traceOutputChannel: output,
  };
  const languageClient = new LanguageClient("asynclint", "asynclint", serverOptions, clientOptions);
  languageClient.onDidChangeState(({ newState }) => {
    if (newState === State.Stopped) {
      showStatus("error", "asynclint", "asynclint: the server stopped (see the output)", true);
    }
  });
  client = languageClient;
  try {
    await languageClient.start();
  } catch (error) {
    output.appendLine(`The asynclint server failed to start: ${(error as Error).message}`);
    showStatus("error", "asynclint", "asynclint: the server failed to start (see the output)", true);
    return;
  }
  followProgress(languageClient);
  showStatus("check", "asynclint", `${server.version} (${server.source}: ${server.path})`);
}

async function stop() {
  const running = client;
  client = undefined;
  if (running) {
    await running.stop();
  }
}

async function fixAll() {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== "python") {
    return;
  }
  await vscode.commands.executeCommand("editor.action.sourceAction", { kind: FIX_ALL_KIND, apply: "first" });
}

export async function activate(context: vscode.ExtensionContext) {
  output = vscode.window.createOutputChannel("asynclint");
  statusBar = vscode.window.createStatusBarItem("asynclint.status", vscode.StatusBarAlignment.Right, 100);
  statusBar.name = "asynclint";
  statusBar.command = "asynclint.showOutput";
  context.subscriptions.push(
    output,
    statusBar,
    vscode.commands.registerCommand("asynclint.restart", async () => {
      await stop();
      await start(context);
    }),
    vscode.commands.registerCommand("asynclint.showOutput", () => output.show()),
    vscode.commands.registerCommand("asynclint.fixAll", fixAll),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("asynclint.enable") || event.affectsConfiguration("asynclint.path")) {
        await stop();
        await start(context);
      } else if (event.affectsConfiguration("asynclint") && client) {
        await client.sendNotification("workspace/didChangeConfiguration", { settings: serverSettings() });
      }
    }),
  );
  await start(context);
}

export async function deactivate() {
  await stop();
}
