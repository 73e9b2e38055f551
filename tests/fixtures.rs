//! Data-driven rule tests: every `fixtures/**/*.py` and `fixtures/**/*.ipynb` is checked, and the set of (line, code)
//! findings must equal the `# expect: CODE[, CODE]` markers exactly (in a notebook, lines of its cells' joined code). Each finding's message and each fix's effect are snapshotted, every fix
//! must re-parse and make its finding go away, fixing everything must converge (and, in a notebook, carry back into
//! its cells), and fixtures marked `# asynclint: runnable` must print the same output before and after all fixes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use asynclint::core::check::{analyze, check, fix_all, summarize_document, ModuleInfo};
use asynclint::core::dependencies;
use asynclint::core::document::Document;
use asynclint::core::fix;
use asynclint::core::index::{module_name, ProjectIndex};
use asynclint::core::settings::{parse_pyproject, Settings};
use asynclint::core::Diagnostic;
use asynclint::environment::{site_packages, Environment};
use asynclint::notebook::Notebook;
use asynclint::workspace::{is_notebook, NOTEBOOK_MODULE_SUFFIX};

const RUNNABLE_MARKER: &str = "# asynclint: runnable";
/// A runnable fixture whose fix overlaps independent waits reports on standard error, as `peak in flight: N`, the most
/// waits it had running at once: one before the fix, more after it. Counted, not timed, so a loaded machine cannot
/// make the proof flaky.
const OVERLAP_MARKER: &str = "# asynclint: overlaps";
const PEAK_PREFIX: &str = "peak in flight: ";
/// In a runnable fixture whose bug loses work, each such line is a line the fixed program must print.
const FIXED_OUTPUT_MARKER: &str = "# fixed output: ";

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures").canonicalize().expect("fixtures/ exists")
}

fn python_files(directory: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> =
        std::fs::read_dir(directory).expect("fixtures are readable").map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            // A fixture project's `.venv` is its installed environment, read through dependency following.
            if path.file_name().is_some_and(|name| name != ".venv") {
                python_files(&path, found);
            }
        } else if path.extension().is_some_and(|extension| extension == "py") || is_notebook(&path) {
            found.push(path);
        }
    }
}

/// A fixture project: a directory with a `pyproject.toml` (all its files are one project), or a lone file.
fn project_root_of(file: &Path, fixtures: &Path) -> Option<PathBuf> {
    file.ancestors()
        .skip(1)
        .take_while(|dir| dir.starts_with(fixtures))
        .find(|dir| dir.join("pyproject.toml").is_file())
        .map(Path::to_path_buf)
}

struct Project {
    root: PathBuf,
    files: Vec<PathBuf>,
    settings: Settings,
}

fn projects() -> Vec<Project> {
    let fixtures = fixtures_root();
    let mut files = Vec::new();
    python_files(&fixtures, &mut files);
    let mut grouped: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for file in files {
        match project_root_of(&file, &fixtures) {
            Some(root) => grouped.entry(root).or_default().push(file),
            None => grouped.entry(file.clone()).or_default().push(file),
        }
    }
    grouped
        .into_iter()
        .map(|(root, files)| {
            let settings = if root.is_dir() {
                let text = std::fs::read_to_string(root.join("pyproject.toml")).unwrap();
                let config = parse_pyproject(&text).expect("fixture config parses").config;
                Settings::from_config(&config).expect("fixture config is valid")
            } else {
                Settings::default()
            };
            let root = if root.is_dir() { root } else { root.parent().unwrap().to_path_buf() };
            Project { root, files, settings }
        })
        .collect()
}

fn module_of(file: &Path, root: &Path) -> ModuleInfo {
    let relative = file.strip_prefix(root).unwrap();
    let (mut name, is_package) = module_name(relative, |dir| root.join(dir).join("__init__.py").is_file());
    let notebook = is_notebook(file);
    if notebook {
        name.push_str(NOTEBOOK_MODULE_SUFFIX);
    }
    ModuleInfo { name, is_package, notebook }
}

fn relative_name(file: &Path) -> String {
    file.strip_prefix(fixtures_root()).unwrap().display().to_string()
}

/// The `# expect:` markers of a file: (1-based line, code).
fn expected_findings(text: &str) -> BTreeSet<(usize, String)> {
    let mut expected = BTreeSet::new();
    for (number, line) in text.lines().enumerate() {
        if let Some((_, codes)) = line.split_once("# expect:") {
            for code in codes.split(',').map(str::trim).filter(|code| !code.is_empty()) {
                expected.insert((number + 1, code.to_owned()));
            }
        }
    }
    expected
}

fn found_findings(document: &Document, diagnostics: &[Diagnostic]) -> BTreeSet<(usize, String)> {
    diagnostics.iter().map(|d| (document.line_col(d.range.start).line as usize + 1, d.code.to_owned())).collect()
}

fn diff(before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after).unified_diff().context_radius(1).to_string()
}

struct Checked {
    documents: Vec<(Document, ModuleInfo, Option<Notebook>)>,
    index: ProjectIndex,
}

fn check_project(project: &Project) -> Checked {
    let documents: Vec<(Document, ModuleInfo, Option<Notebook>)> = project
        .files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let notebook = is_notebook(file).then(|| Notebook::parse(text.clone()).expect("fixture notebooks read"));
            let code = notebook.as_ref().map_or(text, |notebook| notebook.code().to_owned());
            (Document::new(relative_name(file), code), module_of(file, &project.root), notebook)
        })
        .collect();
    let mut index = ProjectIndex::new(
        documents.iter().map(|(document, module, _)| summarize_document(document, module, &project.settings)),
    );
    // A project with a `.venv` follows its calls into the dependencies installed there, as the CLI does.
    let directories = site_packages(&project.root.join(".venv"));
    if !directories.is_empty() {
        let environment = Environment::new(directories, &project.settings, None, |file: &Path| relative_name(file));
        let seeds = documents
            .iter()
            .flat_map(|(document, module, _)| analyze(document, module, &project.settings).blocking_candidates);
        dependencies::follow(&mut index, seeds, &environment, project.settings.catalogue());
    }
    Checked { documents, index }
}

/// `line:column` of an offset, 1-based; in a notebook `cell N:line:column`, the line counted within the cell.
fn position(document: &Document, notebook: Option<&Notebook>, offset: usize) -> String {
    let at = document.line_col(offset);
    let cell = notebook.and_then(|notebook| {
        notebook
            .cell_starts()
            .take_while(|&(_, start)| start <= offset)
            .last()
            .map(|(number, start)| (number, document.line_col(start).line))
    });
    match cell {
        Some((number, first_line)) => format!("cell {number}:{}:{}", at.line - first_line + 1, at.chars + 1),
        None => format!("{}:{}", at.line + 1, at.chars + 1),
    }
}

/// Runs a fixture program with python3: its standard output and standard error.
fn run_python(source: &str) -> (String, String) {
    let directory = tempfile::tempdir().unwrap();
    let script = directory.path().join("program.py");
    std::fs::write(&script, source).unwrap();
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new("python3")
        .arg(&script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the runnable fixtures");
    // A fix that makes a program wait forever (awaiting a worker that loops until told to stop) must fail the test,
    // not hang it. The bound is far above any fixture's run time; it says nothing about speed.
    while child.try_wait().expect("the fixture program can be waited on").is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().ok();
            panic!("fixture program did not finish within 60 s: a fix made it wait forever?\n{source}");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let output = child.wait_with_output().expect("the fixture program's output can be read");
    assert!(output.status.success(), "fixture program failed:\n{}", String::from_utf8_lossy(&output.stderr));
    (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
}

#[test]
fn fixtures_match_their_markers_snapshots_and_fix_invariants() {
    let mut failures = Vec::new();
    let mut checked_files = 0;
    for project in projects() {
        let checked = check_project(&project);
        for (document, module, notebook) in &checked.documents {
            checked_files += 1;
            let name = document.path.clone();
            let diagnostics = check(document, module, &checked.index, &project.settings);
            // The CLI's one-parse path must agree with `check` exactly.
            let analysis = analyze(document, module, &project.settings);
            let batch = if analysis.needs_project_check(&checked.index, &project.settings) {
                check(document, module, &checked.index, &project.settings)
            } else {
                analysis.local_diagnostics.clone()
            };
            if batch != diagnostics {
                failures.push(format!("{name}: the batch path reports something other than `check`"));
            }
            let expected = expected_findings(document.text());
            let found = found_findings(document, &diagnostics);
            if expected != found {
                let missing: Vec<_> = expected.difference(&found).collect();
                let unexpected: Vec<_> = found.difference(&expected).collect();
                failures.push(format!("{name}: missing {missing:?}, unexpected {unexpected:?}"));
            }
            let mut snapshot = String::new();
            for diagnostic in &diagnostics {
                let start = position(document, notebook.as_ref(), diagnostic.range.start);
                snapshot.push_str(&format!("{start} {} {}\n", diagnostic.code, diagnostic.message));
                for related in &diagnostic.related {
                    snapshot.push_str(&format!(
                        "    related {}:{} {}\n",
                        related.file,
                        related.span.start.line + 1,
                        related.message
                    ));
                }
                for fix_offered in &diagnostic.fixes {
                    let Some(fixed) = fix::apply_checked(document, fix_offered) else {
                        failures.push(format!("{name}: fix `{}` does not re-parse", fix_offered.title));
                        continue;
                    };
                    snapshot.push_str(&format!(
                        "    fix ({}): {}\n",
                        fix_offered.applicability.as_str(),
                        fix_offered.title
                    ));
                    for line in diff(document.text(), &fixed)
                        .lines()
                        .filter(|line| !line.starts_with("---") && !line.starts_with("+++"))
                    {
                        snapshot.push_str(&format!("    {line}\n"));
                    }
                    let refixed = Document::new(name.clone(), fixed);
                    let after = check(&refixed, module, &checked.index, &project.settings);
                    let count = |list: &[Diagnostic]| list.iter().filter(|d| d.code == diagnostic.code).count();
                    if count(&after) >= count(&diagnostics) {
                        failures.push(format!(
                            "{name}: fix `{}` for {} does not remove its finding",
                            fix_offered.title, diagnostic.code
                        ));
                    }
                }
            }
            if !diagnostics.is_empty() {
                let snapshot_name = name.trim_end_matches(".py").trim_end_matches(".ipynb").replace(['/', '\\'], "__");
                insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
                    insta::assert_snapshot!(snapshot_name, snapshot);
                });
            }
            // Fixing everything, round after round, must settle.
            let copy = Document::new(name.clone(), document.text());
            let outcome = fix_all(copy, module, &checked.index, &project.settings, |_| true);
            if !outcome.converged {
                failures.push(format!("{name}: fixes do not converge"));
            }
            if let Some(notebook) = notebook {
                if let Err(reason) = notebook.apply(&outcome.rounds, outcome.document.text()) {
                    failures.push(format!("{name}: the fixes do not carry back into the notebook: {reason}"));
                }
            }
            let current = outcome.document;
            if document.text().starts_with(RUNNABLE_MARKER) {
                assert!(!outcome.fixed.is_empty(), "{name}: a runnable fixture should have fixes to test");
                let (before, before_report) = run_python(document.text());
                let (after, after_report) = run_python(current.text());
                if document.text().contains(OVERLAP_MARKER) {
                    let peak = |report: &str| {
                        report.lines().find_map(|line| line.strip_prefix(PEAK_PREFIX)?.trim().parse::<u32>().ok())
                    };
                    let (sequential, overlapped) = (peak(&before_report), peak(&after_report));
                    if sequential != Some(1) || overlapped.is_none_or(|peak| peak < 2) {
                        failures.push(format!(
                            "{name}: the fix does not overlap the waits: peak in flight {sequential:?} before, {overlapped:?} after"
                        ));
                    }
                }
                let promised: Vec<&str> =
                    document.text().lines().filter_map(|line| line.strip_prefix(FIXED_OUTPUT_MARKER)).collect();
                if promised.is_empty() {
                    // The fix must not change what the program does.
                    if before != after {
                        failures
                            .push(format!("{name}: the fixed program prints something else:\n{before}\n---\n{after}"));
                    }
                } else {
                    // The fix must complete the work the broken program lost.
                    let printed: Vec<&str> = after.lines().collect();
                    if printed != promised || before == after {
                        failures.push(format!("{name}: before the fix it printed\n{before}after it\n{after}"));
                    }
                }
            }
        }
    }
    assert!(checked_files > 10, "only {checked_files} fixture files found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn markers_are_parsed_with_several_codes() {
    let expected = expected_findings("a\nb  # expect: AL101, AL104\n");
    assert_eq!(expected, BTreeSet::from([(2, "AL101".to_owned()), (2, "AL104".to_owned())]));
}
