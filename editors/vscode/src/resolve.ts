// Finding the asynclint server binary. Kept free of the `vscode` module so it runs under node's test runner.
import * as path from "path";

/** Where a candidate binary came from, in the order they are tried. */
export type Source = "environment" | "setting" | "bundled" | "PATH";

export interface Candidate {
  source: Source;
  path: string;
}

export interface Found extends Candidate {
  /** What `asynclint --version` printed, e.g. "asynclint 0.1.0". */
  version: string;
}

export interface NotFound {
  /** Every candidate tried, with why it failed. */
  tried: Array<Candidate & { problem: string }>;
}

/** What resolution needs from the outside world: injected, so tests can fake it. */
export interface Environment {
  /** `ASYNCLINT_PATH`, for development against a locally built server. */
  environmentPath: string | undefined;
  /** The `asynclint.path` setting. */
  settingPath: string | undefined;
  /** The extension's install folder, which may hold `bin/asynclint`. */
  extensionPath: string;
  /** The PATH variable. */
  searchPath: string | undefined;
  platform: NodeJS.Platform;
  /** Whether a file exists and is a file. */
  isFile(file: string): boolean;
  /** Runs `file --version`; resolves to its standard output, or rejects. */
  version(file: string): Promise<string>;
}

function executableName(platform: NodeJS.Platform): string {
  return platform === "win32" ? "asynclint.exe" : "asynclint";
}

/** The candidates in priority order: environment variable, setting, bundled binary, then each PATH directory. */
export function candidates(env: Environment): Candidate[] {
  const list: Candidate[] = [];
  const given = (value: string | undefined) => value !== undefined && value.trim() !== "";
  if (given(env.environmentPath)) {
    list.push({ source: "environment", path: env.environmentPath!.trim() });
  }
  if (given(env.settingPath)) {
    list.push({ source: "setting", path: env.settingPath!.trim() });
  }
  const name = executableName(env.platform);
  list.push({ source: "bundled", path: path.join(env.extensionPath, "bin", name) });
  const separator = env.platform === "win32" ? ";" : ":";
  for (const directory of (env.searchPath ?? "").split(separator)) {
    if (directory !== "") {
      list.push({ source: "PATH", path: path.join(directory, name) });
    }
  }
  return list;
}

/**
 * The first candidate that exists and answers `--version` as asynclint does. A path the user named (environment or
 * setting) that fails is reported, not skipped silently: it is still tried in order, and listed in `tried`.
 */
export async function resolveServer(env: Environment): Promise<Found | NotFound> {
  const tried: NotFound["tried"] = [];
  for (const candidate of candidates(env)) {
    if (!env.isFile(candidate.path)) {
      // A missing PATH entry is normal; only name the ones someone chose.
      if (candidate.source !== "PATH") {
        tried.push({ ...candidate, problem: "no such file" });
      }
      continue;
    }
    try {
      const output = (await env.version(candidate.path)).trim();
      if (/^asynclint \d+\.\d+\.\d+/.test(output)) {
        return { ...candidate, version: output };
      }
      tried.push({ ...candidate, problem: `\`--version\` printed ${JSON.stringify(output)}` });
    } catch (error) {
      tried.push({ ...candidate, problem: `\`--version\` failed: ${(error as Error).message}` });
    }
  }
  return { tried };
}

/** One readable line per failed candidate, for the error message and the output channel. */
export function describeFailure(failure: NotFound): string {
  if (failure.tried.length === 0) {
    return "no asynclint binary was found: none is bundled, none is set, and none is on PATH";
  }
  return failure.tried.map((entry) => `${entry.source} ${entry.path}: ${entry.problem}`).join("; ");
}
