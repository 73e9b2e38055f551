//! End-to-end tests of the `asynclint` binary: exit codes, output formats, config errors, unreadable files,
//! `--fix` writing files safely, and the check cache.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::project;

fn asynclint(directory: &Path, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asynclint"))
        .args(arguments)
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const BLOCKING: &str = "import time\n\n\nasync def main():\n    time.sleep(1)\n";

#[test]
fn exit_codes_say_clean_findings_or_error() {
    let clean = project(&[("ok.py", "async def main():\n    return 1\n")]);
    let output = asynclint(clean.path(), &["check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("All checks passed!"));

    let dirty = project(&[("app.py", BLOCKING)]);
    let output = asynclint(dirty.path(), &["check"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("AL101 [*] `time.sleep` blocks the event loop in async function `main`"), "{text}");
    assert!(text.contains("--> app.py:5:5"), "{text}");
    assert!(text.contains("5 |     time.sleep(1)\n  |     ^^^^^^^^^^^^^"), "{text}");
    assert!(text.contains("Found 1 error."), "{text}");

    assert_eq!(asynclint(dirty.path(), &["check", "--exit-zero"]).status.code(), Some(0));
    assert_eq!(asynclint(dirty.path(), &["check", "missing.py"]).status.code(), Some(2));
    assert_eq!(asynclint(dirty.path(), &["check", "--select", "NOPE"]).status.code(), Some(2));
    assert_eq!(asynclint(dirty.path(), &["check", "--bogus-flag"]).status.code(), Some(2));
    assert_eq!(asynclint(dirty.path(), &["check", "--ignore", "AL1"]).status.code(), Some(0));
}

#[test]
fn json_output_has_ruffs_shape() {
    let dirty = project(&[("app.py", BLOCKING)]);
    let output = asynclint(dirty.path(), &["check", "--output-format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let items: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let item = &items[0];
    assert_eq!(item["code"], "AL101");
    assert_eq!(item["location"], serde_json::json!({"row": 5, "column": 5}));
    assert_eq!(item["end_location"], serde_json::json!({"row": 5, "column": 18}));
    assert_eq!(item["noqa_row"], 5);
    assert!(item["filename"].as_str().unwrap().ends_with("app.py"));
    assert_eq!(item["fix"]["applicability"], "safe");
    assert_eq!(item["fix"]["edits"][1]["content"], "await asyncio.sleep(1)");
    for key in ["message", "url", "cell"] {
        assert!(item.get(key).is_some(), "{key} missing");
    }
}

#[test]
fn ci_formats_json_lines_github_and_gitlab() {
    let dirty = project(&[("app.py", BLOCKING)]);
    let lines = stdout(&asynclint(dirty.path(), &["check", "--output-format", "json-lines"]));
    assert_eq!(lines.lines().count(), 1);
    let item: serde_json::Value = serde_json::from_str(lines.trim()).unwrap();
    assert_eq!(item["code"], "AL101");
    let github = stdout(&asynclint(dirty.path(), &["check", "--output-format", "github"]));
    assert_eq!(
        github.trim_end(),
        "::warning title=asynclint (AL101),file=app.py,line=5,col=5,endLine=5,endColumn=18::AL101 `time.sleep` blocks the event loop in async function `main`: it sleeps the whole thread; use `await asyncio.sleep(...)`"
    );
    let gitlab: serde_json::Value =
        serde_json::from_slice(&asynclint(dirty.path(), &["check", "--output-format", "gitlab"]).stdout).unwrap();
    assert_eq!(gitlab[0]["check_name"], "AL101");
    assert_eq!(gitlab[0]["location"], serde_json::json!({"path": "app.py", "lines": {"begin": 5, "end": 5}}));
    assert_eq!(gitlab[0]["severity"], "minor");
    assert_eq!(gitlab[0]["fingerprint"].as_str().unwrap().len(), 16);
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0_with_rules_chains_and_fixes() {
    let helper = "import subprocess\n\n\ndef prepare():\n    subprocess.run(['make'])\n";
    let app = "import time\nfrom helpers import prepare\n\n\nasync def main():\n    label = '😀'; time.sleep(1)\n    prepare()\n";
    let dirty = project(&[("helpers.py", helper), ("my app/main.py", app)]);
    let output = asynclint(dirty.path(), &["check", "--output-format", "sarif"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let log: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("data/sarif-schema-2.1.0.json")).expect("the schema is JSON");
    let validator = jsonschema::draft4::new(&schema).expect("the SARIF schema compiles");
    let problems: Vec<String> =
        validator.iter_errors(&log).map(|error| format!("{error} at {}", error.instance_path())).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    let mut tampered = log.clone();
    tampered["runs"][0]["results"][0]["level"] = "severe".into();
    assert!(!validator.is_valid(&tampered), "the schema check can fail");

    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), asynclint::core::rules::ALL.len());
    let results = run["results"].as_array().unwrap();
    let codes: Vec<&str> = results.iter().map(|result| result["ruleId"].as_str().unwrap()).collect();
    assert_eq!(codes, ["AL101", "AL110"]);
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
    }
    let sleep = &results[0];
    let location = &sleep["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"], serde_json::json!({"uri": "my%20app/main.py", "uriBaseId": "%SRCROOT%"}));
    // UTF-16 columns: the emoji counts two (in characters the column would be 18).
    assert_eq!(location["region"]["startColumn"], 19);
    assert_eq!(
        sleep["fixes"][0]["artifactChanges"][0]["replacements"][1]["insertedContent"]["text"],
        "await asyncio.sleep(1)"
    );
    let chain = results[1]["relatedLocations"].as_array().unwrap();
    assert_eq!(chain.last().unwrap()["physicalLocation"]["artifactLocation"]["uri"], "helpers.py");
    let base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"].as_str().unwrap();
    assert!(base.starts_with("file:///") && base.ends_with('/'), "{base}");
}

#[test]
fn junit_output_is_well_formed_xml_with_a_case_per_finding() {
    let dirty = project(&[("a&b.py", BLOCKING), ("clean.py", "x = 1\n")]);
    let xml = stdout(&asynclint(dirty.path(), &["check", "--output-format", "junit"]));
    let document = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = document.root_element();
    assert_eq!(
        (root.tag_name().name(), root.attribute("tests"), root.attribute("failures")),
        ("testsuites", Some("1"), Some("1"))
    );
    let suite = root.children().find(|node| node.has_tag_name("testsuite")).unwrap();
    assert_eq!(suite.attribute("name"), Some("a&b.py"));
    let case = suite.children().find(|node| node.has_tag_name("testcase")).unwrap();
    assert_eq!(
        (case.attribute("name"), case.attribute("line"), case.attribute("column")),
        (Some("org.asynclint.AL101"), Some("5"), Some("5"))
    );
    let failure = case.children().find(|node| node.has_tag_name("failure")).unwrap();
    assert!(failure.attribute("message").unwrap().starts_with("`time.sleep` blocks the event loop"));

    let clean = project(&[("clean.py", "x = 1\n")]);
    let output = asynclint(clean.path(), &["check", "--output-format", "junit"]);
    assert_eq!(output.status.code(), Some(0));
    let xml = stdout(&output);
    let document = roxmltree::Document::parse(&xml).expect("well-formed XML");
    assert_eq!(document.root_element().attribute("failures"), Some("0"));
    assert!(document.descendants().any(|node| node.attribute("name") == Some("No errors found")));
}

#[test]
fn show_fixes_lists_what_fixing_changed() {
    let twice = "import time\n\n\nasync def main():\n    time.sleep(1)\n    time.sleep(2)\n";
    let directory = project(&[("app.py", twice)]);
    let output = asynclint(directory.path(), &["check", "--fix", "--show-fixes"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("Fixed 2 errors:\n- app.py:\n    2 × AL101 (blocking-sleep)\n"), "{text}");
}

#[test]
fn concise_output_is_one_line_per_finding() {
    let dirty = project(&[("app.py", BLOCKING)]);
    let text = stdout(&asynclint(dirty.path(), &["check", "--output-format", "concise"]));
    assert!(text.starts_with("app.py:5:5: AL101 [*] `time.sleep`"), "{text}");
}

#[test]
fn unreadable_and_non_utf8_files_warn_and_the_rest_is_checked() {
    let dirty = project(&[("app.py", BLOCKING)]);
    std::fs::write(dirty.path().join("binary.py"), [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let output = asynclint(dirty.path(), &["check"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("binary.py: skipped: not valid UTF-8"), "{}", stderr(&output));
    assert!(stdout(&output).contains("AL101"));
}

#[test]
fn warnings_come_in_path_order_whatever_the_file_sizes() {
    // Files are analysed largest first; what the user sees must not show it.
    let directory = project(&[("app.py", BLOCKING)]);
    for (name, size) in [("a_small.py", 10), ("b_large.py", 100_000), ("c_medium.py", 1_000)] {
        std::fs::write(directory.path().join(name), vec![0xff; size]).unwrap();
    }
    let warnings = stderr(&asynclint(directory.path(), &["check"]));
    let position = |name: &str| warnings.find(name).unwrap_or_else(|| panic!("no warning for {name}: {warnings}"));
    assert!(position("a_small.py") < position("b_large.py"), "{warnings}");
    assert!(position("b_large.py") < position("c_medium.py"), "{warnings}");
}

#[test]
fn config_errors_name_the_key_and_the_file() {
    let directory = project(&[("app.py", BLOCKING)]);
    std::fs::write(directory.path().join("pyproject.toml"), "[tool.asynclint]\nselekt = [\"AL1\"]\n").unwrap();
    let output = asynclint(directory.path(), &["check"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("pyproject.toml") && message.contains("selekt"), "{message}");
}

#[test]
fn config_selects_rules_and_extends_the_catalogue() {
    let directory = project(&[(
        "app.py",
        "import time\nimport mylib\n\n\nasync def main():\n    time.sleep(1)\n    mylib.fetch()\n",
    )]);
    std::fs::write(
        directory.path().join("pyproject.toml"),
        "[tool.asynclint]\nignore = [\"blocking-sleep\"]\nextra-blocking-calls = [{ name = \"mylib.fetch\", rule = \"AL102\" }]\n",
    )
    .unwrap();
    let text = stdout(&asynclint(directory.path(), &["check", "--output-format", "concise"]));
    assert!(!text.contains("AL101"), "{text}");
    assert!(text.contains("app.py:7:5: AL102"), "{text}");
}

#[test]
fn fix_rewrites_in_place_and_keeps_permissions_and_line_endings() {
    use std::os::unix::fs::PermissionsExt;
    let source = "import time\r\n\r\n\r\nasync def main():\r\n    time.sleep(1)\r\n";
    let directory = project(&[("app.py", source)]);
    let path = directory.path().join("app.py");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let output = asynclint(directory.path(), &["check", "--fix"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let fixed = std::fs::read_to_string(&path).unwrap();
    assert_eq!(fixed, "import asyncio\r\nimport time\r\n\r\n\r\nasync def main():\r\n    await asyncio.sleep(1)\r\n");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    let leftovers: Vec<_> = std::fs::read_dir(directory.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name != ".asynclint_cache")
        .collect();
    assert_eq!(leftovers.len(), 2, "no temporary files are left behind: {leftovers:?}");
}

#[test]
fn unsafe_fixes_apply_only_when_asked() {
    let source = "import requests\n\n\nasync def main(url):\n    requests.get(url)\n";
    let directory = project(&[("app.py", source)]);
    let path = directory.path().join("app.py");
    let output = asynclint(directory.path(), &["check", "--fix"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("1 hidden fix can be enabled with the `--unsafe-fixes` option"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), source);
    let output = asynclint(directory.path(), &["check", "--fix", "--unsafe-fixes"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(std::fs::read_to_string(&path).unwrap().contains("await asyncio.to_thread(requests.get, url)"));
}

#[test]
fn helpers_in_files_not_checked_still_count() {
    let directory = project(&[
        ("pkg/__init__.py", ""),
        ("pkg/helpers.py", "import subprocess\n\n\ndef deploy():\n    subprocess.run(['make'])\n"),
        ("pkg/app.py", "from pkg.helpers import deploy\n\n\nasync def main():\n    deploy()\n"),
    ]);
    let text = stdout(&asynclint(directory.path(), &["check", "pkg/app.py", "--output-format", "concise"]));
    assert!(text.contains("pkg/app.py:5:5: AL110 `deploy()` blocks the event loop"), "{text}");
    assert!(text.contains("main → deploy → subprocess.run"), "{text}");
}

#[test]
fn a_file_named_from_another_package_does_not_shadow_the_standard_library() {
    // `other/logging.py` sits in the package `other`: it is `other.logging`, so `import logging` in the first file
    // still names the standard library, whose `Logger.debug` is no coroutine.
    let directory = project(&[
        (
            "client/connection.py",
            "import logging\n\n\ndef connect(logger: logging.Logger):\n    logger.debug('connecting')\n",
        ),
        ("other/__init__.py", ""),
        ("other/logging.py", "class Logger:\n    async def debug(self, message):\n        print(message)\n"),
    ]);
    // No project file above them: the root is the first file's directory, and `other/` lies outside it.
    std::fs::remove_file(directory.path().join("pyproject.toml")).unwrap();
    let output = asynclint(directory.path(), &["check", "client/connection.py", "other/logging.py", "--no-cache"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn projects_under_one_parent_each_resolve_their_own_packages() {
    // Two services, each with an `app` package: in svc1 `app.b.helper` blocks, in svc2 it does not. Checked from
    // their parent, svc2's caller must be resolved against svc2's `app.b`, as `asynclint check svc2` does.
    let caller = "from app.b import helper\n\n\nasync def main():\n    helper()\n";
    let directory = project(&[
        ("svc1/pyproject.toml", "[project]\nname = 'svc1'\n"),
        ("svc1/app/__init__.py", ""),
        ("svc1/app/a.py", caller),
        ("svc1/app/b.py", "import time\n\n\ndef helper():\n    time.sleep(1)\n"),
        ("svc2/setup.cfg", "[metadata]\nname = svc2\n"),
        ("svc2/app/__init__.py", ""),
        ("svc2/app/a.py", caller),
        ("svc2/app/b.py", "def helper():\n    return 1\n"),
    ]);
    let alone = asynclint(directory.path(), &["check", "svc2", "--no-cache"]);
    assert_eq!(alone.status.code(), Some(0), "{}", stdout(&alone));
    let together = stdout(&asynclint(directory.path(), &["check", ".", "--no-cache", "--output-format", "concise"]));
    assert!(together.contains("svc1/app/a.py:5:5: AL110"), "{together}");
    assert!(!together.contains("svc2/"), "{together}");
}

#[test]
fn standard_input_is_checked_against_the_project_not_the_file_on_disk() {
    // The file on disk calls nothing; the editor's unsaved text calls a blocking helper of another module. Only the
    // index can tell, so the second phase re-checks the text: it must be the text from standard input.
    let directory = project(&[
        ("pkg/__init__.py", ""),
        ("pkg/helpers.py", "import subprocess\n\n\ndef deploy():\n    subprocess.run(['make'])\n"),
        ("pkg/app.py", "async def main():\n    pass\n"),
    ]);
    let unsaved = "from pkg.helpers import deploy\n\n\nasync def main():\n    deploy()\n";
    let arguments = ["check", "--stdin-filename", "pkg/app.py", "--output-format", "concise", "-"];
    let output = asynclint_with_stdin(directory.path(), &arguments, unsaved);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("pkg/app.py:5:5: AL110"), "{}", stdout(&output));
}

#[test]
fn gitignored_and_virtualenv_files_are_skipped() {
    let directory = project(&[
        ("app.py", "async def main():\n    return 1\n"),
        ("generated/out.py", BLOCKING),
        (".venv/lib/site.py", BLOCKING),
        (".gitignore", "generated/\n"),
    ]);
    let output = asynclint(directory.path(), &["check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn rule_docs_version_and_listing() {
    let here = Path::new(".");
    let doc = stdout(&asynclint(here, &["rule", "AL101"]));
    assert!(doc.starts_with("# blocking-sleep (AL101)"), "{doc}");
    assert!(doc.contains("## Fix safety"));
    assert_eq!(
        stdout(&asynclint(here, &["rule", "transitive-blocking-call"])).lines().next(),
        Some("# transitive-blocking-call (AL110)")
    );
    assert_eq!(asynclint(here, &["rule", "AL999"]).status.code(), Some(2));
    let listing = stdout(&asynclint(here, &["rule"]));
    assert_eq!(listing.lines().count(), asynclint::core::rules::ALL.len());
    let version = stdout(&asynclint(here, &["--version"]));
    assert_eq!(version.trim(), format!("asynclint {}", env!("CARGO_PKG_VERSION")));
}

fn asynclint_with_stdin(directory: &Path, arguments: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_asynclint"))
        .args(arguments)
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // A run that rejects its arguments exits without reading standard input: the pipe may be closed already.
    if let Err(error) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    child.wait_with_output().unwrap()
}

#[test]
fn per_file_ignores_apply_by_path_under_the_project_root() {
    let directory = project(&[("app.py", BLOCKING), ("tests/test_app.py", BLOCKING)]);
    std::fs::write(
        directory.path().join("pyproject.toml"),
        "[tool.asynclint]\nper-file-ignores = { \"tests/**\" = [\"blocking-sleep\"] }\n",
    )
    .unwrap();
    let text = stdout(&asynclint(directory.path(), &["check", "--output-format", "concise"]));
    assert!(text.contains("app.py:5:5: AL101"), "{text}");
    assert!(!text.contains("tests/test_app.py"), "{text}");
}

#[test]
fn diff_shows_fixes_without_writing() {
    let directory = project(&[("app.py", BLOCKING)]);
    let output = asynclint(directory.path(), &["check", "--diff"]);
    assert_eq!(output.status.code(), Some(1));
    let diff = stdout(&output);
    assert!(diff.contains("--- app.py\n+++ app.py\n"), "{diff}");
    assert!(diff.contains("-    time.sleep(1)\n+    await asyncio.sleep(1)\n"), "{diff}");
    assert!(stderr(&output).contains("Would fix 1 error in 1 file."), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(directory.path().join("app.py")).unwrap(), BLOCKING);
    let clean = project(&[("ok.py", "async def main():\n    return 1\n")]);
    assert_eq!(asynclint(clean.path(), &["check", "--diff"]).status.code(), Some(0));
}

#[test]
fn statistics_and_quiet() {
    let source = "import time\n\n\nasync def main():\n    time.sleep(1)\n    time.sleep(2)\n    open('x')\n";
    let directory = project(&[("app.py", source)]);
    let statistics = stdout(&asynclint(directory.path(), &["check", "--statistics"]));
    assert_eq!(statistics, "    2\tAL101\t[*]\tblocking-sleep\n    1\tAL104\t   \tblocking-file-io\n");
    let quiet = stdout(&asynclint(directory.path(), &["check", "--quiet", "--output-format", "concise"]));
    assert_eq!(quiet.lines().count(), 3, "{quiet}");
}

#[test]
fn standard_input_is_checked_and_fixed_under_its_given_name() {
    let directory = project(&[]);
    let output = asynclint_with_stdin(
        directory.path(),
        &["check", "--stdin-filename", "app.py", "--output-format", "concise", "-"],
        BLOCKING,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("app.py:5:5: AL101"), "{}", stdout(&output));
    let output =
        asynclint_with_stdin(directory.path(), &["check", "--stdin-filename", "app.py", "--fix", "-"], BLOCKING);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "import asyncio\nimport time\n\n\nasync def main():\n    await asyncio.sleep(1)\n");
    assert!(!directory.path().join("app.py").exists(), "nothing is written for standard input");
    assert_eq!(asynclint_with_stdin(directory.path(), &["check", "-"], BLOCKING).status.code(), Some(2));
}

#[test]
fn hostile_files_never_crash_or_hang_the_run() {
    let mut deep_defs = String::new();
    for level in 0..1000 {
        deep_defs.push_str(&format!("{}def f{level}():\n", "    ".repeat(level)));
    }
    deep_defs.push_str(&format!("{}open('x')\n", "    ".repeat(1000)));
    let long_line = format!("x = [{}]\nasync def f():\n    open('x')\n", "1, ".repeat(350_000));
    let directory = project(&[("deep_defs.py", &deep_defs), ("long_line.py", &long_line), ("app.py", BLOCKING)]);
    std::fs::write(directory.path().join("nul.py"), b"async def f():\n    open('x')\x00\x00\n").unwrap();
    std::fs::write(directory.path().join("binary.py"), (0..=255u8).cycle().take(25_600).collect::<Vec<u8>>()).unwrap();
    std::os::unix::fs::symlink(".", directory.path().join("loop")).unwrap();
    let output = asynclint(directory.path(), &["check", "--output-format", "concise"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("app.py:5:5: AL101"), "{text}");
    assert!(text.contains("long_line.py:3:5: AL104"), "{text}");
    let warnings = stderr(&output);
    assert!(warnings.contains("deep_defs.py: skipped: nested too deeply to parse safely"), "{warnings}");
    assert!(warnings.contains("binary.py: skipped: not valid UTF-8"), "{warnings}");
}

#[test]
fn malformed_python_never_crashes_the_run() {
    let directory = project(&[
        ("broken.py", "async def f(:\n    time.sleep(\n\0\0 ((((\n"),
        ("deep.py", &format!("async def f():\n    x = {}1{}\n", "(".repeat(3000), ")".repeat(3000))),
        ("empty.py", ""),
        ("bom.py", "\u{feff}"),
        ("app.py", BLOCKING),
    ]);
    let output = asynclint(directory.path(), &["check", "--output-format", "concise"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stdout(&output).contains("app.py:5:5: AL101"));
}

/// Runs the binary without root's power to read any file, so permission tests mean the same under CI's root user.
fn asynclint_unprivileged(directory: &Path, arguments: &[&str]) -> Output {
    let binary = env!("CARGO_BIN_EXE_asynclint");
    // `/proc/self` belongs to the process's effective user.
    let is_root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0;
    let mut command = if is_root {
        let mut setpriv = Command::new("setpriv");
        setpriv.args(["--bounding-set=-dac_override,-dac_read_search", binary]);
        setpriv
    } else {
        Command::new(binary)
    };
    command.args(arguments).current_dir(directory).env("NO_COLOR", "1").output().expect("the binary runs")
}

#[test]
fn unreadable_directories_files_and_fifos_are_reported_and_the_rest_is_checked() {
    use std::os::unix::fs::PermissionsExt;
    let directory = project(&[("app.py", BLOCKING), ("locked/hidden.py", BLOCKING), ("secret.py", BLOCKING)]);
    let no_access = std::fs::Permissions::from_mode(0o000);
    std::fs::set_permissions(directory.path().join("locked"), no_access.clone()).unwrap();
    std::fs::set_permissions(directory.path().join("secret.py"), no_access).unwrap();
    // A FIFO named like a module would block a reader forever.
    let fifo = std::process::Command::new("mkfifo").arg(directory.path().join("pipe.py")).status().unwrap();
    assert!(fifo.success());
    let output = asynclint_unprivileged(directory.path(), &["check", "--output-format", "concise"]);
    std::fs::set_permissions(directory.path().join("locked"), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().filter(|line| line.contains("AL101")).count(), 1, "{}", stdout(&output));
    let warnings = stderr(&output);
    assert!(warnings.contains("locked") && warnings.contains("Permission denied"), "{warnings}");
    assert!(warnings.contains("secret.py: cannot read"), "{warnings}");
    assert!(!warnings.contains("pipe.py"), "a FIFO is not a Python file: {warnings}");
}

#[test]
fn a_file_deleted_after_discovery_is_reported_and_the_rest_is_checked() {
    use asynclint::cli::run::{run, FixMode, FixOutput, RunOptions};
    use asynclint::core::settings::Settings;
    let directory = project(&[("app.py", BLOCKING), ("gone.py", BLOCKING)]);
    let root = directory.path().canonicalize().unwrap();
    let files = vec![root.join("app.py"), root.join("gone.py")];
    std::fs::remove_file(root.join("gone.py")).unwrap();
    let options = RunOptions {
        fix_mode: FixMode::Safe,
        fix_output: FixOutput::Files,
        stdin: None,
        cache_directory: None,
        hash_files: false,
        environment: None,
    };
    let outcome = run(&files, &files, &root, &Settings::default(), options);
    assert_eq!(outcome.reports.len(), 1);
    assert_eq!(outcome.reports[0].fixed, ["AL101"]);
    assert!(!root.join("gone.py").exists(), "a vanished file is not recreated by --fix");
    assert_eq!(outcome.warnings.len(), 1);
    assert!(outcome.warnings[0].contains("gone.py: cannot read"), "{:?}", outcome.warnings);
}

#[test]
fn a_ten_megabyte_file_is_checked() {
    let mut huge = String::with_capacity(10 << 20);
    let mut count = 0;
    while huge.len() < 10 << 20 {
        huge.push_str(&format!("def helper_{count}(values):\n    return [value * {count} for value in values]\n\n\n"));
        count += 1;
    }
    huge.push_str("async def main():\n    open('x')\n");
    let lines = huge.lines().count();
    let directory = project(&[("huge.py", &huge)]);
    let output = asynclint(directory.path(), &["check", "--output-format", "concise"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stdout(&output).contains(&format!("huge.py:{lines}:5: AL104")), "{}", stdout(&output));
}

#[test]
fn add_noqa_suppresses_every_current_finding() {
    let source = "import time\nimport subprocess\n\n\nasync def main():\n    time.sleep(1); subprocess.run(['ls'])\n    time.sleep(2)  # noqa: AL104  # slow on purpose\n";
    let directory = project(&[("app.py", source)]);
    let output = asynclint(directory.path(), &["check", "--add-noqa"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("Added 2 noqa directives."), "{}", stderr(&output));
    let written = std::fs::read_to_string(directory.path().join("app.py")).unwrap();
    assert!(written.contains("subprocess.run(['ls'])  # noqa: AL101, AL103\n"), "{written}");
    assert!(written.contains("time.sleep(2)  # noqa: AL104, AL101  # slow on purpose\n"), "{written}");
    assert_eq!(asynclint(directory.path(), &["check"]).status.code(), Some(0), "nothing is left to report");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The Python files under `root` that do not compile (what `py_compile` checks, without writing `.pyc` files),
/// relative to it.
fn python_compile_failures(root: &Path) -> std::collections::BTreeSet<String> {
    let script = "import pathlib, sys\nroot = pathlib.Path(sys.argv[1])\nfor path in sorted(root.rglob('*.py')):\n    try:\n        compile(path.read_bytes(), str(path), 'exec')\n    except (SyntaxError, ValueError):\n        print(path.relative_to(root))\n";
    let output = Command::new("python3").args(["-c", script]).arg(root).output().expect("python3 runs");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).lines().map(str::to_owned).collect()
}

#[test]
fn fixing_the_fixtures_leaves_only_unfixable_findings_and_compiling_files() {
    let copy = tempfile::tempdir().unwrap();
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures"), copy.path());
    let json = |arguments: &[&str]| -> Vec<serde_json::Value> {
        let output = asynclint(copy.path(), &[&["check", "--output-format", "json"], arguments].concat());
        serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{}", stderr(&output)))
    };
    let has_safe_fix = |item: &serde_json::Value| item["fix"]["applicability"] == "safe";
    let before = json(&[]);
    let fixable_files: std::collections::BTreeSet<String> = before
        .iter()
        .filter(|item| has_safe_fix(item))
        .map(|item| item["filename"].as_str().unwrap().to_owned())
        .collect();
    assert!(fixable_files.len() >= 3, "the fixtures have safe fixes to apply: {fixable_files:?}");
    let broken_before = python_compile_failures(copy.path());
    let texts_before: Vec<(std::path::PathBuf, Vec<u8>)> = walk_python(copy.path());

    let output = asynclint(copy.path(), &["check", "--fix"]);
    assert_eq!(output.status.code(), Some(1), "unfixable findings remain: {}", stderr(&output));

    let after = json(&[]);
    assert!(after.iter().all(|item| !has_safe_fix(item)), "only unfixable findings remain");
    assert!(after.len() < before.len());
    assert_eq!(python_compile_failures(copy.path()), broken_before, "every file that compiled still compiles");
    for (path, text) in texts_before {
        let now = std::fs::read(&path).unwrap();
        let shown = std::fs::canonicalize(&path).unwrap().display().to_string();
        if !fixable_files.contains(&shown) {
            assert!(now == text, "{shown} had nothing to fix but changed");
        }
    }
}

fn walk_python(root: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk_python(&path));
        } else if path.extension().is_some_and(|extension| extension == "py") {
            let text = std::fs::read(&path).unwrap();
            files.push((path, text));
        }
    }
    files
}

#[test]
fn a_nested_project_takes_its_own_python_version_not_its_parents() {
    let source = "import requests\n\n\nasync def fetch(url):\n    return requests.get(url)\n";
    let parent = project(&[("inner/app.py", source)]);
    std::fs::write(parent.path().join("pyproject.toml"), "[project]\nname = \"outer\"\nrequires-python = \">=3.8\"\n")
        .unwrap();
    std::fs::write(parent.path().join("inner/pyproject.toml"), "[project]\nname = \"inner\"\n").unwrap();
    let diff = stdout(&asynclint(&parent.path().join("inner"), &["check", "--diff", "--unsafe-fixes"]));
    assert!(diff.contains("await asyncio.to_thread(requests.get, url)"), "the default target (3.9) applies: {diff}");
    std::fs::remove_file(parent.path().join("inner/pyproject.toml")).unwrap();
    let diff = stdout(&asynclint(parent.path(), &["check", "--diff", "--unsafe-fixes"]));
    assert!(diff.contains("run_in_executor(None, requests.get, url)"), "the outer project targets 3.8: {diff}");
}

#[test]
fn a_fix_whose_result_would_not_parse_is_not_written_and_is_reported() {
    let config = "[tool.asynclint]\nextra-blocking-calls = [{ name = \"mylib.pause\", rule = \"blocking-sleep\", reason = \"sleeps\", replacement = \"mylib.a pause\", drop-in = true }]\n";
    let source = "import mylib\n\n\nasync def main():\n    mylib.pause(1)\n";
    let directory = project(&[("app.py", source)]);
    std::fs::write(directory.path().join("pyproject.toml"), config).unwrap();
    let output = asynclint(directory.path(), &["check", "--fix"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(directory.path().join("app.py")).unwrap(), source, "the file is untouched");
    assert!(
        stderr(&output).contains("app.py:5:5: the AL101 fix was not applied: the fixed text would not parse"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn full_output_is_coloured_on_a_terminal_unless_no_color_is_set() {
    let directory = project(&[("app.py", BLOCKING)]);
    // `script` (util-linux) runs the command on a pseudo-terminal, as a user's shell would.
    let on_terminal = |no_color: Option<&str>| {
        let command = format!("{} check --output-format full", env!("CARGO_BIN_EXE_asynclint"));
        let mut script = Command::new("script");
        script.args(["-qec", &command, "/dev/null"]).current_dir(directory.path()).env_remove("NO_COLOR");
        if let Some(value) = no_color {
            script.env("NO_COLOR", value);
        }
        stdout(&script.output().expect("script runs"))
    };
    let coloured = on_terminal(None);
    assert!(coloured.contains("\u{1b}[") && coloured.contains("AL101"), "{coloured:?}");
    let plain = on_terminal(Some("1"));
    assert!(!plain.contains("\u{1b}[") && plain.contains("AL101"), "{plain:?}");
    let piped = Command::new(env!("CARGO_BIN_EXE_asynclint"))
        .arg("check")
        .current_dir(directory.path())
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(!stdout(&piped).contains("\u{1b}["), "no colour into a pipe");
}

const HELPER_CALLER: &str = "from pkg.helpers import deploy\n\n\nasync def main():\n    deploy()\n";

#[test]
fn a_second_run_is_served_from_the_cache_and_reports_the_same() {
    let directory = project(&[
        ("pkg/__init__.py", ""),
        ("pkg/helpers.py", "import subprocess\n\n\ndef deploy():\n    subprocess.run(['make'])\n"),
        ("pkg/app.py", HELPER_CALLER),
        ("pkg/tasks.py", "import asyncio\n\n\nasync def main(work):\n    asyncio.create_task(work())\n"),
    ]);
    let arguments = ["check", "--output-format", "json"];
    let first = asynclint(directory.path(), &arguments);
    let cache = directory.path().join(".asynclint_cache");
    assert!(cache.join("analysis.bin").is_file(), "the first run writes the cache");
    assert_eq!(std::fs::read_to_string(cache.join(".gitignore")).unwrap().lines().last(), Some("*"));
    let written = std::fs::metadata(cache.join("analysis.bin")).unwrap().modified().unwrap();
    let second = asynclint(directory.path(), &arguments);
    let uncached = asynclint(directory.path(), &["check", "--output-format", "json", "--no-cache"]);
    assert_eq!(stdout(&first), stdout(&second));
    assert_eq!(stdout(&first), stdout(&uncached));
    assert!(stdout(&first).contains("AL110") && stdout(&first).contains("AL201"), "{}", stdout(&first));
    let unchanged = std::fs::metadata(cache.join("analysis.bin")).unwrap().modified().unwrap();
    assert_eq!(written, unchanged, "a run where nothing changed leaves the cache as it is");
    assert!(cache.join("project.bin").is_file(), "the findings that depend on other files are kept too");
}

#[test]
fn a_run_over_some_files_keeps_what_the_cache_knows_of_the_others() {
    let helper = "import subprocess\n\n\ndef deploy():\n    subprocess.run(['make'])\n";
    let directory = project(&[
        ("pkg/__init__.py", ""),
        ("pkg/helpers.py", helper),
        ("pkg/app.py", HELPER_CALLER),
        ("pkg/other.py", HELPER_CALLER),
    ]);
    assert_eq!(asynclint(directory.path(), &["check"]).status.code(), Some(1));
    let project = directory.path().join(".asynclint_cache/project.bin");
    let written = std::fs::metadata(&project).unwrap().modified().unwrap();
    let one_file = asynclint(directory.path(), &["check", "pkg/app.py"]);
    assert!(stdout(&one_file).contains("AL110") && !stdout(&one_file).contains("other.py"), "{}", stdout(&one_file));
    let edited = format!("{HELPER_CALLER}    deploy()\n");
    let from_stdin = ["check", "--stdin-filename", "pkg/other.py", "--output-format", "concise", "-"];
    assert!(stdout(&asynclint_with_stdin(directory.path(), &from_stdin, &edited)).contains("pkg/other.py:6:5: AL110"));
    let unchanged = std::fs::metadata(&project).unwrap().modified().unwrap();
    assert_eq!(written, unchanged, "neither run replaced the entries of the files on disk");
}

#[test]
fn a_helper_that_moves_moves_the_related_locations_of_its_cached_callers() {
    // The caller's text is unchanged and its findings come from the cache of findings that depend on other files;
    // the helper's blocking call moving two lines down must still show in the chain's related location.
    let helper = "import subprocess\n\n\ndef deploy():\n    subprocess.run(['make'])\n";
    let directory = project(&[("pkg/__init__.py", ""), ("pkg/helpers.py", helper), ("pkg/app.py", HELPER_CALLER)]);
    let first = stdout(&asynclint(directory.path(), &["check"]));
    assert!(first.contains("pkg/helpers.py:5:"), "{first}");
    std::fs::write(directory.path().join("pkg/helpers.py"), format!("\n\n{helper}")).unwrap();
    let warm = stdout(&asynclint(directory.path(), &["check"]));
    assert!(warm.contains("pkg/helpers.py:7:") && !warm.contains("pkg/helpers.py:5:"), "{warm}");
    assert_eq!(warm, stdout(&asynclint(directory.path(), &["check", "--no-cache"])));
}

#[test]
fn an_edited_helper_reaches_its_cached_callers() {
    // The caller's entry is served from the cache; its finding depends on the helper's fresh summary.
    let directory = project(&[
        ("pkg/__init__.py", ""),
        ("pkg/helpers.py", "def deploy():\n    return 1\n"),
        ("pkg/app.py", HELPER_CALLER),
    ]);
    let arguments = ["check", "--output-format", "concise"];
    assert_eq!(asynclint(directory.path(), &arguments).status.code(), Some(0));
    let blocking = "import subprocess\n\n\ndef deploy():\n    subprocess.run(['make'])\n";
    std::fs::write(directory.path().join("pkg/helpers.py"), blocking).unwrap();
    let output = asynclint(directory.path(), &arguments);
    assert!(stdout(&output).contains("pkg/app.py:5:5: AL110"), "{}", stdout(&output));
    std::fs::write(directory.path().join("pkg/helpers.py"), "def deploy():\n    return 2\n").unwrap();
    assert_eq!(asynclint(directory.path(), &arguments).status.code(), Some(0), "and back once it stops blocking");
}

#[test]
fn changed_settings_are_not_served_from_the_cache() {
    let directory = project(&[("app.py", BLOCKING)]);
    assert_eq!(asynclint(directory.path(), &["check"]).status.code(), Some(1));
    assert_eq!(asynclint(directory.path(), &["check", "--ignore", "AL101"]).status.code(), Some(0));
    let config = "[tool.asynclint]\nallowed-calls = [\"time.sleep\"]\n";
    std::fs::write(directory.path().join("pyproject.toml"), config).unwrap();
    assert_eq!(asynclint(directory.path(), &["check"]).status.code(), Some(0), "a customised catalogue");
    std::fs::write(directory.path().join("pyproject.toml"), "[tool.asynclint]\ntarget-version = \"py38\"\n").unwrap();
    let output = asynclint(directory.path(), &["check", "--diff"]);
    assert!(stdout(&output).contains("await asyncio.sleep(1)"), "{}", stdout(&output));
}

/// Sets every file's modification time under `directory` an hour back, as for a tree checked out long ago: only
/// then does a file's metadata vouch for its text.
fn age_files(directory: &Path) {
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            age_files(&path);
        } else {
            std::fs::File::options().write(true).open(&path).unwrap().set_modified(an_hour_ago).unwrap();
        }
    }
}

#[test]
fn an_unchanged_tree_is_answered_from_the_run_cache_warnings_included() {
    let directory = project(&[
        ("pkg/__init__.py", ""),
        ("pkg/helpers.py", "import subprocess\n\n\ndef deploy():\n    subprocess.run(['make'])\n"),
        ("pkg/app.py", HELPER_CALLER),
        ("pkg/tasks.py", "import asyncio\n\n\nasync def main(work):\n    asyncio.create_task(work())\n"),
    ]);
    std::fs::write(directory.path().join("latin1.py"), b"# caf\xe9\n").unwrap();
    age_files(directory.path());
    let arguments = ["check", "--output-format", "concise"];
    let uncached = asynclint(directory.path(), &["check", "--output-format", "concise", "--no-cache"]);
    let first = asynclint(directory.path(), &arguments);
    let run_file = directory.path().join(".asynclint_cache/run.bin");
    let written = std::fs::metadata(&run_file).unwrap().modified().unwrap();
    let second = asynclint(directory.path(), &arguments);
    for output in [&first, &second] {
        assert_eq!(stdout(output), stdout(&uncached));
        assert_eq!(stderr(output), stderr(&uncached));
        assert_eq!(output.status.code(), Some(1));
    }
    assert!(stdout(&second).contains("pkg/app.py:5:5: AL110"), "{}", stdout(&second));
    assert!(stderr(&second).contains("latin1.py: skipped: not valid UTF-8"), "{}", stderr(&second));
    assert_eq!(std::fs::metadata(&run_file).unwrap().modified().unwrap(), written, "a hit leaves it as it is");
    // The run cache holds a run's result, not its output: another format is served from it too.
    let json = asynclint(directory.path(), &["check", "--output-format", "json"]);
    assert_eq!(
        stdout(&json),
        stdout(&asynclint(directory.path(), &["check", "--output-format", "json", "--no-cache"]))
    );
}

#[test]
fn a_file_rewritten_with_its_size_and_modification_time_kept_is_seen_to_change() {
    // Its change time moved (no program can set it back), and the stamp holds it.
    let helper = "import subprocess\n\n\ndef deploy():\n    subprocess.run(['make'])\n";
    let directory = project(&[("pkg/__init__.py", ""), ("pkg/helpers.py", helper), ("pkg/app.py", HELPER_CALLER)]);
    age_files(directory.path());
    let helpers = directory.path().join("pkg/helpers.py");
    let modified = std::fs::metadata(&helpers).unwrap().modified().unwrap();
    let arguments = ["check", "--output-format", "concise"];
    assert!(stdout(&asynclint(directory.path(), &arguments)).contains("AL110"));
    let quiet = helper.replace("subprocess.run", "subprocess.str");
    std::fs::write(&helpers, &quiet).unwrap();
    std::fs::File::options().write(true).open(&helpers).unwrap().set_modified(modified).unwrap();
    let output = asynclint(directory.path(), &arguments);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(
        stdout(&asynclint(directory.path(), &["check", "--output-format", "concise", "--hash-files"])),
        stdout(&output)
    );
}

#[test]
fn a_reported_file_whose_text_is_not_the_one_cached_is_checked_again() {
    // Its findings are shown with its text, so the text is read and compared even when the metadata vouches for it.
    let directory = project(&[("app.py", BLOCKING)]);
    age_files(directory.path());
    let arguments = ["check", "--output-format", "concise"];
    assert!(stdout(&asynclint(directory.path(), &arguments)).contains("app.py:5:5: AL101"));
    std::fs::write(directory.path().join("app.py"), format!("\n\n{BLOCKING}")).unwrap();
    age_files(directory.path());
    let output = stdout(&asynclint(directory.path(), &arguments));
    assert!(output.contains("app.py:7:5: AL101") && !output.contains("app.py:5:5"), "{output}");
}

#[test]
fn a_damaged_cache_is_ignored_and_replaced() {
    let directory = project(&[("app.py", BLOCKING)]);
    let cache = directory.path().join(".asynclint_cache");
    let expected = stdout(&asynclint(directory.path(), &["check", "--output-format", "json"]));
    for file in ["analysis.bin", "run.bin"] {
        let stored = std::fs::read(cache.join(file)).unwrap();
        let damaged = [stored[..stored.len() / 2].to_vec(), b"ALCACHE2".repeat(9), vec![0xff; 64]];
        for bytes in damaged {
            std::fs::write(cache.join(file), &bytes).unwrap();
            if file == "analysis.bin" {
                // Else the run cache answers, and the analyses are not read.
                std::fs::remove_file(cache.join("run.bin")).unwrap();
            }
            let output = asynclint(directory.path(), &["check", "--output-format", "json"]);
            assert_eq!(stdout(&output), expected, "{file}: {}", stderr(&output));
            assert_eq!(std::fs::read(cache.join(file)).unwrap(), stored, "{file} is rewritten whole");
        }
    }
}

#[test]
fn the_cache_goes_where_it_is_told_or_nowhere() {
    let directory =
        project(&[("app.py", BLOCKING), ("pyproject.toml", "[tool.asynclint]\ncache-dir = \"build/lint\"\n")]);
    asynclint(directory.path(), &["check"]);
    assert!(directory.path().join("build/lint/analysis.bin").is_file(), "the `cache-dir` setting");
    asynclint(directory.path(), &["check", "--cache-dir", "elsewhere"]);
    assert!(directory.path().join("elsewhere/analysis.bin").is_file(), "--cache-dir");
    let with_variable = Command::new(env!("CARGO_BIN_EXE_asynclint"))
        .args(["check", "--no-cache"])
        .current_dir(directory.path())
        .env("ASYNCLINT_CACHE_DIR", directory.path().join("from-env"))
        .output()
        .unwrap();
    assert_eq!(with_variable.status.code(), Some(1));
    assert!(!directory.path().join("from-env").exists(), "--no-cache wins");
    assert!(!directory.path().join(".asynclint_cache").exists());
    // A cache that cannot be written costs speed, not the check.
    let output = asynclint(directory.path(), &["check", "--cache-dir", "app.py/cache", "--output-format", "concise"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("AL101"));
    assert!(stderr(&output).contains("warning: cannot write the cache in app.py/cache"), "{}", stderr(&output));
}

/// A notebook in Jupyter's own layout (indent 1, sources as lists of lines), with an output on every code cell.
fn notebook(cells: &[(&str, &str)]) -> String {
    let cells: Vec<serde_json::Value> = cells
        .iter()
        .enumerate()
        .map(|(position, (kind, source))| {
            let lines: Vec<&str> = source.split_inclusive('\n').collect();
            let mut cell = serde_json::json!({
                "cell_type": kind, "id": format!("c{position}"), "metadata": {"tags": []}, "source": lines,
            });
            if *kind == "code" {
                cell["execution_count"] = (position + 1).into();
                cell["outputs"] = serde_json::json!([{"name": "stdout", "output_type": "stream", "text": ["ok\n"]}]);
            }
            cell
        })
        .collect();
    let value = serde_json::json!({
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    });
    let mut text = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut text, serde_json::ser::PrettyFormatter::with_indent(b" "));
    serde::Serialize::serialize(&value, &mut serializer).unwrap();
    String::from_utf8(text).unwrap() + "\n"
}

/// Markdown, imports, a coroutine that sleeps (cell 3, row 2) and a cell that starts a loop (cell 4, row 2).
fn demo_notebook() -> String {
    notebook(&[
        ("markdown", "# Demo\n"),
        ("code", "import asyncio\nimport time"),
        ("code", "async def main():\n    time.sleep(1)\n    return 1"),
        ("code", "# Run it\nresult = asyncio.run(main())"),
    ])
}

#[test]
fn notebooks_are_found_like_python_files_and_every_format_names_the_cell() {
    let checkpoint = notebook(&[("code", "import time\nasync def f():\n    time.sleep(1)")]);
    let directory = project(&[
        (".gitignore", "ignored.ipynb\n"),
        ("nb/demo.ipynb", &demo_notebook()),
        ("nb/.ipynb_checkpoints/demo-checkpoint.ipynb", &checkpoint),
        ("ignored.ipynb", &checkpoint),
    ]);
    let run = |format: &str| {
        let output = asynclint(directory.path(), &["check", "--no-cache", "--output-format", format]);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(stderr(&output).is_empty(), "{}", stderr(&output));
        stdout(&output)
    };
    let concise = run("concise");
    let lines: Vec<&str> = concise.lines().filter(|line| line.contains(": AL")).collect();
    assert_eq!(lines.len(), 2, "the checkpoint and the ignored notebook are skipped: {concise}");
    assert!(lines[0].starts_with("nb/demo.ipynb:cell 3:2:5: AL101 [*] "), "{concise}");
    assert!(lines[1].starts_with("nb/demo.ipynb:cell 4:2:10: AL112 [*] "), "{concise}");

    let full = run("full");
    assert!(
        full.contains(" --> nb/demo.ipynb:cell 3:2:5\n  |\n2 |     time.sleep(1)\n  |     ^^^^^^^^^^^^^"),
        "{full}"
    );
    assert!(full.contains(" --> nb/demo.ipynb:cell 4:2:10\n  |\n2 | result = asyncio.run(main())\n"), "{full}");

    let items: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let sleep = &items[0];
    assert_eq!((sleep["cell"].as_u64(), sleep["code"].as_str()), (Some(3), Some("AL101")));
    assert_eq!(sleep["location"], serde_json::json!({"row": 2, "column": 5}));
    assert_eq!(sleep["end_location"], serde_json::json!({"row": 2, "column": 18}));
    assert_eq!(sleep["noqa_row"], 2);
    assert_eq!(sleep["fix"]["edits"][0]["location"], serde_json::json!({"row": 2, "column": 5}));
    assert_eq!((items[1]["cell"].as_u64(), items[1]["location"]["row"].as_u64()), (Some(4), Some(2)));
    let lines: Vec<serde_json::Value> =
        run("json-lines").lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.iter().map(|item| item["cell"].as_u64()).collect::<Vec<_>>(), [Some(3), Some(4)]);

    let github = run("github");
    assert!(github.contains("file=nb/demo.ipynb,line=2,col=5,endLine=2,endColumn=18::cell 3: AL101 "), "{github}");
    let gitlab: serde_json::Value = serde_json::from_str(&run("gitlab")).unwrap();
    assert!(gitlab[0]["description"].as_str().unwrap().starts_with("cell 3: AL101 "), "{gitlab}");
    assert_eq!(gitlab[0]["location"]["lines"], serde_json::json!({"begin": 2, "end": 2}));
    let junit = run("junit");
    roxmltree::Document::parse(&junit).expect("JUnit output is XML");
    assert!(junit.contains(r#"line="2" column="5""#) && junit.contains(">cell 3, line 2, col 5, "), "{junit}");

    let log: serde_json::Value = serde_json::from_str(&run("sarif")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(include_str!("data/sarif-schema-2.1.0.json")).unwrap();
    let validator = jsonschema::draft4::new(&schema).unwrap();
    assert!(validator.is_valid(&log), "SARIF with cells is valid SARIF");
    let result = &log["runs"][0]["results"][1];
    assert_eq!(result["properties"]["cell"], 4);
    assert_eq!(result["locations"][0]["physicalLocation"]["region"]["startLine"], 2);
}

#[test]
fn magics_top_level_await_and_noqa_in_cells_give_no_findings() {
    let quiet = notebook(&[
        ("code", "import asyncio\nimport time\n%load_ext autoreload\n!pip install 'aiohttp>=3' (\nfiles = !ls\n"),
        ("code", "async def main():\n    %time x = 1\n    time.sleep(1)  # noqa: AL101\n    return 1"),
        ("code", "%%time\nvalue = await main()\nasync with asyncio.timeout(1):\n    await main()\nmain?"),
        ("code", "%%bash\nasync def shell():\n    time.sleep(1)"),
        ("code", "asyncio.run(main())  # noqa: asyncio-run-in-notebook\ntime.sleep(1)"),
    ]);
    let directory = project(&[("quiet.ipynb", &quiet)]);
    let output = asynclint(directory.path(), &["check", "--no-cache"]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("All checks passed!") && stderr(&output).is_empty(), "{}", stderr(&output));
    // The same code without its `# noqa` comments has two findings: the comments did the work.
    let loud = quiet.replace("  # noqa: AL101", "").replace("  # noqa: asyncio-run-in-notebook", "");
    std::fs::write(directory.path().join("quiet.ipynb"), &loud).unwrap();
    let output = asynclint(directory.path(), &["check", "--no-cache", "--output-format", "concise"]);
    let text = stdout(&output);
    let found: Vec<&str> = text.lines().filter(|line| line.contains(": AL")).map(|line| &line[..24]).collect();
    assert_eq!(found, ["quiet.ipynb:cell 2:3:5: ", "quiet.ipynb:cell 5:1:1: "], "{text}");
}

#[test]
fn fixing_a_notebook_rewrites_only_the_changed_sources_byte_for_byte() {
    // Another tool's escapes in an unchanged line, and a cell whose source is one string, stay as written.
    let original = demo_notebook().replace("\"# Run it\\n\"", "\"# Run it \\u00e9\\n\"").replace(
        "\"source\": [\n    \"import asyncio\\n\",\n    \"import time\"\n   ]",
        "\"source\": \"import asyncio\\nimport time\"",
    );
    assert!(original.contains("\"source\": \"import asyncio"), "{original}");
    let directory = project(&[("demo.ipynb", &original)]);
    let path = directory.path().join("demo.ipynb");

    let diff = asynclint(directory.path(), &["check", "--diff"]);
    assert_eq!(diff.status.code(), Some(1), "{}", stderr(&diff));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original, "--diff writes nothing");
    let shown = stdout(&diff);
    assert!(shown.starts_with("--- demo.ipynb:cell 3\n+++ demo.ipynb:cell 3\n"), "{shown}");
    assert!(shown.contains("-    time.sleep(1)\n+    await asyncio.sleep(1)\n"), "{shown}");
    assert!(shown.contains("--- demo.ipynb:cell 4\n") && shown.contains("+result = await main()"), "{shown}");

    let output = asynclint(directory.path(), &["check", "--fix"]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    let expected = original
        .replace("\"    time.sleep(1)\\n\"", "\"    await asyncio.sleep(1)\\n\"")
        .replace("\"result = asyncio.run(main())\"", "\"result = await main()\"");
    assert_ne!(expected, original);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    let again = asynclint(directory.path(), &["check"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));

    // Standard input: the fixed notebook is printed, the file is left alone.
    let fixed =
        asynclint_with_stdin(directory.path(), &["check", "--fix", "--stdin-filename", "other.ipynb", "-"], &original);
    assert_eq!(stdout(&fixed), expected);
    assert!(!directory.path().join("other.ipynb").exists());
}

#[test]
fn add_noqa_writes_into_the_cells() {
    let original = demo_notebook();
    let directory = project(&[("demo.ipynb", &original)]);
    let output = asynclint(directory.path(), &["check", "--add-noqa"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let written = std::fs::read_to_string(directory.path().join("demo.ipynb")).unwrap();
    let expected = original
        .replace("\"    time.sleep(1)\\n\"", "\"    time.sleep(1)  # noqa: AL101\\n\"")
        .replace("\"result = asyncio.run(main())\"", "\"result = asyncio.run(main())  # noqa: AL112\"");
    assert_eq!(written, expected);
    assert_eq!(asynclint(directory.path(), &["check"]).status.code(), Some(0));
}

#[test]
fn a_broken_notebook_is_named_skipped_and_never_written() {
    let not_json = "{\n \"cells\": [\n";
    let bad_source = "{\"cells\": [{\"cell_type\": \"code\", \"source\": {\"a\": 1}}], \"nbformat\": 4}";
    let no_cells = "{\"metadata\": {}, \"nbformat\": 4}";
    let directory = project(&[
        ("a.ipynb", not_json),
        ("b.ipynb", bad_source),
        ("c.ipynb", no_cells),
        ("d.ipynb", &demo_notebook()),
    ]);
    for arguments in [&["check"][..], &["check", "--fix"]] {
        let output = asynclint(directory.path(), arguments);
        let errors = stderr(&output);
        assert!(errors.contains("a.ipynb: skipped: not a valid notebook: EOF while parsing"), "{errors}");
        assert!(errors.contains("b.ipynb: skipped: cell 1: `source` is not a string or a list of strings"), "{errors}");
        assert!(errors.contains("c.ipynb: skipped: not a valid notebook: it has no `cells` list"), "{errors}");
        assert!(stdout(&output).contains("d.ipynb") || arguments.len() == 2, "the rest is checked");
        for (name, text) in [("a.ipynb", not_json), ("b.ipynb", bad_source), ("c.ipynb", no_cells)] {
            assert_eq!(std::fs::read_to_string(directory.path().join(name)).unwrap(), text, "{name} is never written");
        }
    }
    assert_ne!(std::fs::read_to_string(directory.path().join("d.ipynb")).unwrap(), demo_notebook(), "d was fixed");
}

#[test]
fn a_warm_run_reports_notebooks_as_a_cold_one_and_follows_their_cells() {
    let directory = project(&[("demo.ipynb", &demo_notebook()), ("app.py", BLOCKING)]);
    for format in ["full", "json"] {
        let arguments = ["check", "--output-format", format];
        let cold = asynclint(directory.path(), &arguments);
        let warm = asynclint(directory.path(), &arguments);
        let uncached = asynclint(directory.path(), &[&arguments[..], &["--no-cache"]].concat());
        assert_eq!(stdout(&cold), stdout(&warm));
        assert_eq!(stdout(&cold), stdout(&uncached));
        assert!(stdout(&cold).contains("demo.ipynb"), "{}", stdout(&cold));
    }
    // A markdown cell put in front changes no code, so the cached analysis stands; the findings move a cell down.
    let moved = demo_notebook().replacen(
        "\"cells\": [\n",
        "\"cells\": [\n  {\"cell_type\": \"markdown\", \"metadata\": {}, \"source\": \"New\"},\n",
        1,
    );
    std::fs::write(directory.path().join("demo.ipynb"), moved).unwrap();
    let output = asynclint(directory.path(), &["check", "--output-format", "concise"]);
    assert!(stdout(&output).contains("demo.ipynb:cell 4:2:5: AL101"), "{}", stdout(&output));
    assert!(stdout(&output).contains("demo.ipynb:cell 5:2:10: AL112"), "{}", stdout(&output));
    let uncached = asynclint(directory.path(), &["check", "--output-format", "concise", "--no-cache"]);
    assert_eq!(stdout(&output), stdout(&uncached));
}

/// Installs a fake distribution into a `site-packages` directory: its files and a `*.dist-info` with `METADATA` and
/// `RECORD` (the way `pip` leaves them).
fn install(site_packages: &Path, name: &str, version: &str, files: &[(&str, &str)]) {
    let info = site_packages.join(format!("{name}-{version}.dist-info"));
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(info.join("METADATA"), format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n"))
        .unwrap();
    let mut record = String::new();
    for (path, text) in files {
        let file = site_packages.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
        record.push_str(&format!("{path},sha256={},{}\n", text.len(), text.len()));
    }
    std::fs::write(info.join("RECORD"), record).unwrap();
}

/// A project whose async code calls `lib.load()`, a dependency's function that does what `body` does.
const CALLS_LIB: &str = "import lib\n\n\nasync def main():\n    lib.load()\n";

fn lib_blocking_with(body: &str) -> String {
    format!("import os, socket, subprocess, time\n\n\ndef load():\n    {body}\n")
}

/// Runs the binary with a private user cache and no activated environment (unless `environment` names one).
fn asynclint_in(directory: &Path, arguments: &[&str], cache_home: &Path, environment: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_asynclint"));
    command.args(arguments).current_dir(directory).env("NO_COLOR", "1").env("XDG_CACHE_HOME", cache_home);
    command.env_remove("VIRTUAL_ENV").env_remove("ASYNCLINT_CACHE_DIR");
    if let Some(environment) = environment {
        command.env("VIRTUAL_ENV", environment);
    }
    command.output().expect("the binary runs")
}

#[test]
fn dependency_environments_are_found_in_order_virtual_env_dot_venv_venv_then_configured() {
    let directory = project(&[("app.py", CALLS_LIB)]);
    let root = directory.path();
    let cache_home = tempfile::tempdir().unwrap();
    let activated = tempfile::tempdir().unwrap();
    let environments = [
        (activated.path().to_path_buf(), "time.sleep(1)"),
        (root.join(".venv"), "open('data').read()"),
        (root.join("venv"), "subprocess.run(['ls'])"),
        (root.join("envs/configured"), "socket.create_connection(('example.com', 80))"),
    ];
    for (environment, body) in &environments {
        let site = environment.join("lib/python3.12/site-packages");
        install(&site, "lib", "1.0", &[("lib/__init__.py", &lib_blocking_with(body))]);
    }
    std::fs::write(root.join("pyproject.toml"), "[tool.asynclint]\npython-environment = \"envs/configured\"\n")
        .unwrap();
    let check = |environment: Option<&Path>| {
        let output =
            asynclint_in(root, &["check", "--no-cache", "--output-format", "concise"], cache_home.path(), environment);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        stdout(&output)
    };
    assert!(check(Some(activated.path())).contains("it calls `time.sleep` (main → load → time.sleep, in lib 1.0)"));
    assert!(check(None).contains("it calls `open`"));
    std::fs::remove_dir_all(root.join(".venv")).unwrap();
    assert!(check(None).contains("it calls `subprocess.run`"));
    std::fs::remove_dir_all(root.join("venv")).unwrap();
    assert!(check(None).contains("it calls `socket.create_connection`"));
    // A Windows layout, named on the command line.
    let windows = tempfile::tempdir().unwrap();
    install(
        &windows.path().join("Lib/site-packages"),
        "lib",
        "2.0",
        &[("lib/__init__.py", &lib_blocking_with("time.sleep(2)"))],
    );
    std::fs::write(root.join("pyproject.toml"), "[project]\nname = \"demo\"\n").unwrap();
    let arguments = ["check", "--no-cache", "--output-format", "concise", "--python-environment"];
    let output =
        asynclint_in(root, &[&arguments[..], &[windows.path().to_str().unwrap()]].concat(), cache_home.path(), None);
    assert!(stdout(&output).contains("in lib 2.0"), "{}", stdout(&output));
}

#[test]
fn following_dependencies_can_be_turned_off() {
    let directory = project(&[("app.py", CALLS_LIB)]);
    let root = directory.path();
    let cache_home = tempfile::tempdir().unwrap();
    install(
        &root.join(".venv/lib/python3.11/site-packages"),
        "lib",
        "1.0",
        &[("lib/__init__.py", &lib_blocking_with("time.sleep(1)"))],
    );
    let on = asynclint_in(root, &["check", "--no-cache"], cache_home.path(), None);
    assert_eq!(on.status.code(), Some(1), "{}", stdout(&on));
    let off = asynclint_in(root, &["check", "--no-cache", "--no-follow-dependencies"], cache_home.path(), None);
    assert_eq!(off.status.code(), Some(0), "{}", stdout(&off));
    std::fs::write(root.join("pyproject.toml"), "[tool.asynclint]\nfollow-dependencies = false\n").unwrap();
    let off = asynclint_in(root, &["check", "--no-cache"], cache_home.path(), None);
    assert_eq!(off.status.code(), Some(0), "{}", stdout(&off));
    std::fs::write(root.join("pyproject.toml"), "[tool.asynclint]\nfollow-dependencies = \"yes\"\n").unwrap();
    assert_eq!(asynclint_in(root, &["check", "--no-cache"], cache_home.path(), None).status.code(), Some(2));
}

#[test]
fn a_dependency_that_cannot_be_read_or_parsed_costs_its_findings_only() {
    let directory = project(&[(
        "app.py",
        "import good, garbled, broken\n\n\nasync def main():\n    garbled.load()\n    broken.load()\n    good.load()\n",
    )]);
    let root = directory.path();
    let cache_home = tempfile::tempdir().unwrap();
    let site = root.join(".venv/lib/python3.12/site-packages");
    install(&site, "good", "1.0", &[("good/__init__.py", &lib_blocking_with("time.sleep(1)"))]);
    install(&site, "broken", "1.0", &[("broken/__init__.py", "def load(:\n    time.sleep(1\n  ))) <<<\n")]);
    install(&site, "garbled", "1.0", &[("garbled/__init__.py", "")]);
    std::fs::write(site.join("garbled/__init__.py"), b"def load():\n    open('\xff\xfe')\n").unwrap();
    // A damaged cache file is no cache.
    let cache = cache_home.path().join("asynclint/dependencies");
    std::fs::create_dir_all(&cache).unwrap();
    for run in 0..2 {
        let output = asynclint_in(root, &["check", "--output-format", "concise"], cache_home.path(), None);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let text = stdout(&output);
        assert!(text.contains("app.py:7:5: AL110"), "run {run}: {text}");
        assert_eq!(text.matches("AL110").count(), 1, "run {run}: {text}");
        for entry in std::fs::read_dir(&cache).unwrap() {
            std::fs::write(entry.unwrap().path(), b"ALDEPS02 truncated").unwrap();
        }
    }
}

/// Sets a file's or directory's modification time well in the past, so that its metadata vouches for it at once.
fn age(path: &Path) {
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::open(path).unwrap().set_modified(past).unwrap();
}

#[test]
fn dependency_summaries_are_cached_per_distribution_and_shared_by_projects() {
    let cache_home = tempfile::tempdir().unwrap();
    let first = project(&[("app.py", CALLS_LIB)]);
    let second = project(&[("service.py", CALLS_LIB)]);
    let shared = tempfile::tempdir().unwrap();
    let site = shared.path().join("lib/python3.12/site-packages");
    install(
        &site,
        "lib",
        "1.0",
        &[("lib/__init__.py", "from lib.io import load\n"), ("lib/io.py", &lib_blocking_with("time.sleep(1)"))],
    );
    for path in [first.path().join("app.py"), first.path().join("pyproject.toml"), site.clone()] {
        age(&path);
    }
    let verbose = |root: &Path| {
        let output =
            asynclint_in(root, &["check", "-v", "--output-format", "concise"], cache_home.path(), Some(shared.path()));
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(stdout(&output).contains("in lib 1.0"), "{}", stdout(&output));
        stderr(&output)
    };
    assert!(verbose(first.path()).contains(": 2 modules parsed, 0 from the cache"));
    let files: Vec<_> = std::fs::read_dir(cache_home.path().join("asynclint/dependencies"))
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().any(|name| name.starts_with("lib-1.0-") && name.ends_with(".bin")), "{files:?}");
    // The same project again: the run cache answers, and nothing is parsed or even looked up.
    assert!(verbose(first.path()).contains(": 0 modules parsed, 0 from the cache"));
    // Another project using the same distribution parses none of it.
    assert!(verbose(second.path()).contains(": 0 modules parsed, 2 from the cache"));
    // A changed environment (a distribution installed beside it) is another run, still served by the cache.
    install(&site, "other", "3.0", &[("other/__init__.py", "")]);
    assert!(verbose(first.path()).contains(": 0 modules parsed, 2 from the cache"));
}
