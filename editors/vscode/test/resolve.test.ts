// Unit tests of server resolution, with node's test runner and a fake environment.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { candidates, describeFailure, Environment, resolveServer } from "../src/resolve";

function environment(files: Record<string, string | Error>, overrides: Partial<Environment> = {}): Environment {
  return {
    environmentPath: undefined,
    settingPath: undefined,
    extensionPath: "/ext",
    searchPath: "/usr/local/bin:/usr/bin",
    platform: "linux",
    isFile: (file) => file in files,
    version: async (file) => {
      const answer = files[file];
      if (answer instanceof Error) {
        throw answer;
      }
      return answer;
    },
    ...overrides,
  };
}

test("the order is environment, setting, bundled, then PATH", () => {
  const list = candidates(environment({}, { environmentPath: "/dev/asynclint", settingPath: "/opt/asynclint" }));
  assert.deepEqual(
    list.map((candidate) => `${candidate.source} ${candidate.path}`),
    ["environment /dev/asynclint", "setting /opt/asynclint", "bundled /ext/bin/asynclint", "PATH /usr/local/bin/asynclint", "PATH /usr/bin/asynclint"],
  );
});

test("blank settings are not candidates", () => {
  const list = candidates(environment({}, { environmentPath: "  ", settingPath: "", searchPath: undefined }));
  assert.deepEqual(list.map((candidate) => candidate.source), ["bundled"]);
});

test("the bundled binary wins over PATH", async () => {
  const found = await resolveServer(
    environment({ "/ext/bin/asynclint": "asynclint 0.1.0\n", "/usr/bin/asynclint": "asynclint 0.0.9\n" }),
  );
  assert.deepEqual(found, { source: "bundled", path: "/ext/bin/asynclint", version: "asynclint 0.1.0" });
});

test("a broken setting falls through to PATH and is reported", async () => {
  const files = { "/opt/asynclint": new Error("EACCES"), "/usr/bin/asynclint": "asynclint 0.1.0" };
  const found = await resolveServer(environment(files, { settingPath: "/opt/asynclint" }));
  assert.equal("version" in found && found.path, "/usr/bin/asynclint");
});

test("a binary that is not asynclint is refused", async () => {
  const result = await resolveServer(environment({ "/usr/bin/asynclint": "Python 3.11.7" }));
  assert.ok(!("version" in result));
  assert.match(describeFailure(result), /PATH \/usr\/bin\/asynclint: `--version` printed "Python 3.11.7"/);
});

test("nothing found explains what was tried", async () => {
  const result = await resolveServer(environment({}, { settingPath: "/nope/asynclint" }));
  assert.ok(!("version" in result));
  assert.equal(
    describeFailure(result),
    "setting /nope/asynclint: no such file; bundled /ext/bin/asynclint: no such file",
  );
});

test("Windows looks for asynclint.exe with ; separators", () => {
  const list = candidates(environment({}, { platform: "win32", searchPath: "C:\\bin;D:\\tools" }));
  assert.ok(list.every((candidate) => candidate.path.endsWith("asynclint.exe")));
  assert.equal(list.length, 3);
});
