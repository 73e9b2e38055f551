//! One `asynclint check` run: read and summarise every project file in parallel, build the index, check the
//! requested files in parallel, and apply fixes when asked. A run where no file changed since the last is answered
//! from the run cache.
//!
//! A notebook goes through the run as the text of its code cells (see `notebook`): that text is what is analysed,
//! hashed and cached, and its fixes are carried back into the notebook's JSON before it is written.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rayon::prelude::*;
use ropey::Rope;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

use crate::core::check::{analyze, check, fix_all, FileAnalysis, ModuleInfo, MAX_FIX_ROUNDS};
use crate::core::dependencies;
use crate::core::diagnostic::{Applicability, Diagnostic};
use crate::core::document::Document;
use crate::core::fix;
use crate::core::index::ProjectIndex;
use crate::core::positions::{self, LineCol};
use crate::core::settings::Settings;
use crate::core::suppressions;

use crate::cache::{self, AnalysisCache};
use crate::environment::{self, Environment};
use crate::notebook::Notebook;
use crate::workspace::{self, PackageCache};

/// Which fixes `--fix` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixMode {
    None,
    Safe,
    SafeAndUnsafe,
}

impl FixMode {
    pub fn allows(self, applicability: Applicability) -> bool {
        match self {
            FixMode::None => false,
            FixMode::Safe => applicability == Applicability::Safe,
            FixMode::SafeAndUnsafe => true,
        }
    }
}

/// The outcome for one checked file, kept only when there is something to show.
pub struct FileReport {
    pub path: PathBuf,
    pub source: SourceText,
    pub diagnostics: Vec<Diagnostic>,
    /// The code of each fix applied.
    pub fixed: Vec<&'static str>,
    /// The file before fixing, when fixes changed it (for `--diff`).
    pub original: Option<SourceText>,
    /// Fixes that were wanted but left out, and why.
    pub warnings: Vec<String>,
}

impl FileReport {
    /// The report of findings nothing was fixed for; None when there are none.
    fn unfixed(path: PathBuf, display: String, source: Source, diagnostics: Vec<Diagnostic>) -> Option<FileReport> {
        (!diagnostics.is_empty()).then(|| FileReport {
            path,
            source: SourceText::new(display, source),
            diagnostics,
            fixed: Vec::new(),
            original: None,
            warnings: Vec::new(),
        })
    }
}

/// Where fixed text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixOutput {
    /// Written back to the file (`--fix`).
    Files,
    /// Kept in the report only (`--diff`).
    Report,
}

/// A file's text as read: for a notebook, the code of its cells, and the notebook.
pub struct Source {
    /// What is analysed (and hashed, and cached).
    pub text: String,
    pub notebook: Option<Notebook>,
}

/// Where a finding is, as the reports show it: in a notebook, the cell (its 1-based number among all cells) and the
/// line within that cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub cell: Option<usize>,
    pub position: LineCol,
}

/// A checked file's final text with a rope for line arithmetic: what the reports need, without a parse tree.
pub struct SourceText {
    /// The path as shown to the user.
    pub display: String,
    /// The text analysed: a notebook's is its code cells with their magics masked.
    pub text: String,
    pub notebook: Option<Notebook>,
    /// Of the text shown: a notebook's cells as written, at the offsets and with the line breaks of `text`.
    rope: Rope,
    /// A notebook's code cells: their numbers and the line of the shown text each starts on.
    cell_lines: Vec<(usize, u32)>,
}

impl SourceText {
    fn new(display: String, source: Source) -> Self {
        let Source { text, notebook } = source;
        let rope = Rope::from_str(notebook.as_ref().map_or(text.as_str(), Notebook::shown));
        let cell_lines = notebook
            .iter()
            .flat_map(Notebook::cell_starts)
            .map(|(number, start)| (number, rope.byte_to_line(start) as u32))
            .collect();
        SourceText { display, text, notebook, rope, cell_lines }
    }

    /// The text as shown: a notebook's cells as written, `text` otherwise.
    pub fn shown(&self) -> &str {
        self.notebook.as_ref().map_or(self.text.as_str(), Notebook::shown)
    }

    /// The line (counted over the whole text) and columns of an offset.
    pub fn line_col(&self, offset: usize) -> LineCol {
        positions::line_col(&self.rope, self.shown(), offset)
    }

    /// Where an offset is as the reports show it: in a notebook, its cell and its line within the cell.
    pub fn locate(&self, offset: usize) -> Location {
        self.locate_line_col(self.line_col(offset))
    }

    /// [`SourceText::locate`] for a position found already (a related location in this file).
    pub fn locate_line_col(&self, position: LineCol) -> Location {
        let cell = self.cell_lines.partition_point(|&(_, line)| line <= position.line).checked_sub(1);
        match cell.map(|cell| self.cell_lines[cell]) {
            Some((number, first_line)) => {
                Location { cell: Some(number), position: LineCol { line: position.line - first_line, ..position } }
            }
            None => Location { cell: None, position },
        }
    }

    /// `display:row:column`, or in a notebook `display:cell N:row:column` (1-based, columns in characters).
    pub fn label(&self, offset: usize) -> String {
        let Location { cell, position } = self.locate(offset);
        let (row, column) = (position.line + 1, position.chars + 1);
        match cell {
            Some(cell) => format!("{}:cell {cell}:{row}:{column}", self.display),
            None => format!("{}:{row}:{column}", self.display),
        }
    }

    /// What the file holds once written: a notebook's JSON text, or the text.
    pub fn written(&self) -> &str {
        self.notebook.as_ref().map_or(self.text.as_str(), Notebook::json)
    }

    pub fn rope(&self) -> &Rope {
        &self.rope
    }
}

pub struct RunOutcome {
    pub reports: Vec<FileReport>,
    pub warnings: Vec<String>,
    pub files_checked: usize,
}

/// One file after the first (and usually only) parse.
struct Analysed {
    path: PathBuf,
    display: String,
    /// The root of its project: files are named, and resolved, in their own project's module namespace.
    namespace: PathBuf,
    module: ModuleInfo,
    /// Whether the file is reported on, not only read for the index.
    checked: bool,
    /// Kept for checked files with findings of their own, which the second phase reports (and may fix). A file that
    /// only the index can judge is read again in the second phase if the index finds something, which few do: not
    /// holding every text through the index build keeps a run's memory down.
    text: Option<Source>,
    analysis: FileAnalysis,
    /// What the check cache keeps of this file for the next run.
    cache_entry: Option<cache::Entry>,
    /// The check cache's key of the text analysed, when the cache is on.
    key: Option<u128>,
}

/// The files a run reports on, by path (as bytes: `Path`'s own hash walks its components).
type CheckedFiles<'a> = HashSet<&'a std::ffi::OsStr, foldhash::fast::RandomState>;

/// What a run knows of a file before reading it: where it sits, its settings, and what its metadata says.
struct Located<'s> {
    namespace: PathBuf,
    module: ModuleInfo,
    display: String,
    settings: Cow<'s, Settings>,
    /// Its size in bytes (0 when it cannot be read).
    size: u64,
    /// The check cache's key of its metadata, when the cache is on and the metadata can vouch for its text.
    stamp_key: Option<u128>,
}

/// The finished result of a run without fixes, as the run cache keeps it.
#[derive(Serialize, Deserialize)]
struct StoredRun {
    reports: Vec<StoredReport>,
    warnings: Vec<String>,
    files_checked: usize,
}

#[derive(Serialize, Deserialize)]
struct StoredReport {
    path: PathBuf,
    display: String,
    /// A hash of the text the diagnostics were found in: the text is read again to show them, and must be that one.
    text_hash: u128,
    diagnostics: Vec<Diagnostic>,
}

/// Whether standard input stands in for the file at `path`.
fn is_stdin(stdin: Option<&(PathBuf, String)>, path: &Path) -> bool {
    stdin.is_some_and(|(stdin_path, _)| stdin_path == path)
}

/// Reads a Python file or a notebook as UTF-8 text, or says why not (a broken notebook too: it is skipped, and never
/// written).
fn read_source(path: &Path, stdin: Option<&(PathBuf, String)>) -> Result<Source, String> {
    let text = match stdin.filter(|(name, _)| name == path) {
        Some((_, text)) => text.clone(),
        None => {
            let bytes = std::fs::read(path).map_err(|error| format!("{}: cannot read: {error}", path.display()))?;
            String::from_utf8(bytes).map_err(|_| format!("{}: skipped: not valid UTF-8", path.display()))?
        }
    };
    if !workspace::is_notebook(path) {
        return Ok(Source { text, notebook: None });
    }
    let notebook = Notebook::parse(text).map_err(|error| format!("{}: skipped: {error}", path.display()))?;
    Ok(Source { text: notebook.code().to_owned(), notebook: Some(notebook) })
}

/// `index_files` are read to build the project index; `checked` (a subset, by path) are checked and reported.
///
/// Each file is parsed once: the parse yields its summary, the findings that need no index, and the callees only
/// the index can judge. Once the index is built, only files where one of those callees blocks (or that get fixed)
/// are parsed again, for the full [`check`].
pub struct RunOptions<'a> {
    pub fix_mode: FixMode,
    pub fix_output: FixOutput,
    /// Source read from standard input, and the path it stands for.
    pub stdin: Option<&'a (PathBuf, String)>,
    /// Where files' analyses and the last run's result are kept between runs; None to analyse every file afresh.
    pub cache_directory: Option<PathBuf>,
    /// Read and hash every file to tell whether it changed, instead of trusting unchanged metadata.
    pub hash_files: bool,
    /// The installed environment whose dependencies the project's calls are followed into; None not to follow them.
    pub environment: Option<&'a Environment>,
}

pub fn run(
    index_files: &[PathBuf],
    checked: &[PathBuf],
    root: &Path,
    settings: &Settings,
    options: RunOptions,
) -> RunOutcome {
    let run_started = SystemTime::now();
    let packages = PackageCache::default();
    let checked: CheckedFiles = checked.iter().map(|path| path.as_os_str()).collect();
    let cwd = std::env::current_dir().ok().and_then(|cwd| cwd.canonicalize().ok());
    let uses_stamps = options.cache_directory.is_some() && !options.hash_files;
    let located: Vec<Located> = index_files
        .par_iter()
        .map(|path| {
            // Discovery's paths are canonical; the one standard input stands for may not be.
            let (namespace, module) = if is_stdin(options.stdin, path) {
                packages.locate(path, root)
            } else {
                packages.locate_canonical(path, root)
            };
            let display = display_path(path, cwd.as_deref());
            let settings = settings.for_file(relative_to(path, root));
            let metadata = std::fs::metadata(path).ok();
            let size = metadata.as_ref().map_or(0, std::fs::Metadata::len);
            let stamp_key = metadata
                .filter(|_| uses_stamps && !is_stdin(options.stdin, path))
                .and_then(|metadata| AnalysisCache::stamp_key(&settings, &module, &display, &metadata, run_started));
            Located { namespace, module, display, settings, size, stamp_key }
        })
        .collect();
    // A run without fixes or standard input whose files all look as they did is the last run again.
    let run_key = match &options.cache_directory {
        Some(_) if options.fix_mode == FixMode::None && options.stdin.is_none() => {
            let key = run_key(index_files, &located, &checked);
            // The dependencies a run follows are part of its result: a changed environment is another run.
            match options.environment {
                None => Some(key),
                Some(environment) => environment::fingerprint(environment.directories(), run_started)
                    .map(|fingerprint| AnalysisCache::derived_key(key, |hasher| hasher.write_u128(fingerprint))),
            }
        }
        _ => None,
    };
    if let (Some(directory), Some(key)) = (&options.cache_directory, run_key) {
        if let Some(outcome) = cache::load_run(directory, key).and_then(replay) {
            return outcome;
        }
    }
    let mut cache_warnings = Vec::new();
    let open_cache = |file_name| options.cache_directory.as_deref().and_then(|dir| AnalysisCache::open(dir, file_name));
    let cache = open_cache(cache::CHECK_FILE);
    let analyse = |position: usize| -> Result<Analysed, String> {
        let path = &index_files[position];
        let Located { namespace, module, display, settings, stamp_key, .. } = &located[position];
        let checked = checked.contains(path.as_os_str());
        let analysed = |text: Source, analysis: FileAnalysis, cache_entry, key| {
            let text = (checked && !analysis.local_diagnostics.is_empty()).then_some(text);
            let (path, display, namespace, module) = (path.clone(), display.clone(), namespace.clone(), module.clone());
            Analysed { path, display, namespace, module, checked, text, analysis, cache_entry, key }
        };
        // Unchanged going by its metadata: the file is read only if its findings are to be shown, and must then be
        // the text they were found in.
        let stamped =
            cache.as_ref().zip(*stamp_key).and_then(|(cache, stamp_key)| cache.lookup_stamped(path, stamp_key));
        let mut text = None;
        if let Some((analysis, key, entry)) = stamped {
            let analysis: FileAnalysis = analysis;
            if !checked || analysis.local_diagnostics.is_empty() {
                let nothing = Source { text: String::new(), notebook: None };
                return Ok(analysed(nothing, analysis, Some(entry), Some(key)));
            }
            let current = read_source(path, options.stdin)?;
            if cache.as_ref().is_some_and(|cache| cache.key(settings, module, display, &current.text) == key) {
                return Ok(analysed(current, analysis, Some(entry), Some(key)));
            }
            text = Some(current);
        }
        let text = match text {
            Some(text) => text,
            None => read_source(path, options.stdin)?,
        };
        let from_stdin = is_stdin(options.stdin, path);
        let key = cache.as_ref().map(|cache| cache.key(settings, module, display, &text.text));
        let cached = cache.as_ref().zip(key).and_then(|(cache, key)| cache.lookup(path, key));
        Ok(match cached {
            Some((analysis, entry)) => analysed(text, analysis, Some(entry.stamped(*stamp_key)), key),
            None => {
                let Source { text, notebook } = text;
                let document = Document::new(display.clone(), text);
                let analysis = analyze(&document, module, settings);
                let entry = match (&cache, key) {
                    // The file on disk was not analysed: its entry stays as it is.
                    (Some(cache), _) if from_stdin => cache.keep(path),
                    (Some(_), Some(key)) => {
                        cache::Entry::fresh(path, key, &analysis).map(|entry| entry.stamped(*stamp_key))
                    }
                    _ => None,
                };
                analysed(Source { text: document.into_text(), notebook }, analysis, entry, key)
            }
        })
    };
    let order = largest_first(&located);
    let mut analysed: Vec<(usize, Result<Analysed, String>)> = order
        .into_par_iter()
        // Pieces of at most 4 files: rayon otherwise splits the list into a few large pieces, and with the largest
        // files first one piece holds most of the bytes and one thread works alone at the end.
        .with_max_len(4)
        .map(|position| (position, analyse(position)))
        .collect();
    // Back in path order, so that warnings and the index do not depend on file sizes.
    analysed.sort_unstable_by_key(|(position, _)| *position);
    let mut warnings = Vec::new();
    let mut files = Vec::with_capacity(analysed.len());
    for (_, result) in analysed {
        match result {
            Ok(file) => {
                if !file.analysis.parsed {
                    warnings.push(format!("{}: skipped: nested too deeply to parse safely", file.display));
                }
                files.push(file);
            }
            Err(warning) => warnings.push(warning),
        }
    }
    if let Some(cache) = cache {
        let entries: Vec<cache::Entry> = files.iter_mut().filter_map(|file| file.cache_entry.take()).collect();
        if let Err(warning) = cache.save(&entries) {
            cache_warnings.push(warning);
        }
        // The cache file as read (33 MB for the benchmark corpus) is not needed past this point; freed now, it is
        // not part of the peak that building the index makes.
        drop(cache);
    }
    // One index per project: a parent directory holding several projects checks each against its own files.
    let mut namespaces: Vec<&Path> = files.iter().map(|file| file.namespace.as_path()).collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    let namespaces: Vec<PathBuf> = namespaces.into_iter().map(Path::to_path_buf).collect();
    let slot_of = |file: &Analysed| namespaces.binary_search(&file.namespace).unwrap_or_default();
    let mut summaries: Vec<Vec<_>> = namespaces.iter().map(|_| Vec::new()).collect();
    for file in &mut files {
        summaries[slot_of(file)].push(std::mem::take(&mut file.analysis.summary));
    }
    let mut indexes: Vec<ProjectIndex> = summaries.into_iter().map(ProjectIndex::new).collect();
    if let Some(environment) = options.environment {
        for (slot, index) in indexes.iter_mut().enumerate() {
            // Calls from async code are in no summary: the candidates of the project-wide rules name them.
            let seeds = files
                .iter()
                .filter(|file| slot_of(file) == slot)
                .flat_map(|file| file.analysis.blocking_candidates.iter().cloned());
            dependencies::follow(index, seeds, environment, settings.catalogue());
        }
        if let Err(warning) = environment.save() {
            cache_warnings.push(warning);
        }
    }

    let files_checked = files.iter().filter(|file| file.checked).count();
    // Fixing runs neither use nor rewrite it: what they report depends on the fixes applied.
    let project_cache = open_cache(cache::PROJECT_FILE).filter(|_| options.fix_mode == FixMode::None);
    // Files this run does not report on, and a file whose text came from standard input, keep their entries as they
    // are: a run over a few files (a pre-commit hook's) must not drop what a run over the project found.
    let mut project_entries: Vec<cache::Entry> = match &project_cache {
        Some(cache) => files
            .iter()
            .filter(|file| !file.checked || is_stdin(options.stdin, &file.path))
            .filter_map(|file| cache.keep(&file.path))
            .collect(),
        None => Vec::new(),
    };
    let checked_files: Vec<Analysed> = files
        .into_iter()
        .filter(|file| file.text.is_some() || (file.checked && file.analysis.may_need_project_check()))
        .collect();
    let results: Vec<Result<Finished, String>> = checked_files
        .into_par_iter()
        .map(|file| {
            let settings = settings.for_file(relative_to(&file.path, root));
            let index = &indexes[slot_of(&file)];
            finish_file(file, index, &settings, &options, project_cache.as_ref())
        })
        .collect();
    let mut reports = Vec::new();
    for result in results {
        match result {
            Ok(Finished { report, cache_entry }) => {
                project_entries.extend(cache_entry);
                if let Some(mut report) = report {
                    warnings.append(&mut report.warnings);
                    reports.push(report);
                }
            }
            Err(warning) => warnings.push(warning),
        }
    }
    if let Some(cache) = project_cache {
        if let Err(warning) = cache.save(&project_entries) {
            cache_warnings.push(warning);
        }
    }
    reports.sort_by(|a, b| a.path.cmp(&b.path));
    // The process ends soon after a run: freeing the index's millions of small strings one by one took 70 ms of a
    // 700 ms warm run on the benchmark corpus, for memory the exit returns anyway.
    std::mem::forget(indexes);
    if let (Some(directory), Some(key)) = (&options.cache_directory, run_key) {
        let stored = StoredRun {
            reports: reports
                .iter()
                .map(|report| StoredReport {
                    path: report.path.clone(),
                    display: report.source.display.clone(),
                    text_hash: xxh3_128(report.source.text.as_bytes()),
                    diagnostics: report.diagnostics.clone(),
                })
                .collect(),
            warnings: warnings.clone(),
            files_checked,
        };
        if let Err(warning) = cache::save_run(directory, key, &stored) {
            cache_warnings.push(warning);
        }
    }
    warnings.append(&mut cache_warnings);
    RunOutcome { reports, warnings, files_checked }
}

/// The key of a run without fixes: per file, its path, whether it is checked, its project, and its stamp key, or,
/// where its metadata cannot vouch for its text, a hash of the text (its settings, module and displayed path are in
/// either).
fn run_key(index_files: &[PathBuf], located: &[Located], checked: &CheckedFiles) -> u128 {
    let identities: Vec<u128> = index_files
        .par_iter()
        .zip(located)
        .map(|(path, located)| {
            if let Some(stamp_key) = located.stamp_key {
                return stamp_key;
            }
            match read_source(path, None) {
                Ok(source) => {
                    cache::file_key(&located.settings, &located.module, &located.display, source.text.as_bytes())
                }
                // What it could not read, and why: the warning is part of the result.
                Err(warning) => xxh3_128(warning.as_bytes()),
            }
        })
        .collect();
    let mut hasher = Xxh3::new();
    hasher.write_usize(index_files.len());
    for ((path, located), identity) in index_files.iter().zip(located).zip(identities) {
        let path_bytes = path.as_os_str().as_encoded_bytes();
        hasher.write_usize(path_bytes.len());
        hasher.write(path_bytes);
        let namespace = located.namespace.as_os_str().as_encoded_bytes();
        hasher.write_usize(namespace.len());
        hasher.write(namespace);
        hasher.write_u8(u8::from(checked.contains(path.as_os_str())));
        hasher.write_u128(identity);
    }
    hasher.digest128()
}

/// The last run's result, with each reported file's text read again; None (run afresh) when one of those texts is not
/// the one its findings were found in.
fn replay(stored: StoredRun) -> Option<RunOutcome> {
    let reports = stored
        .reports
        .into_par_iter()
        .map(|report| {
            let source = read_source(&report.path, None)
                .ok()
                .filter(|source| xxh3_128(source.text.as_bytes()) == report.text_hash)?;
            Some(FileReport::unfixed(report.path, report.display, source, report.diagnostics))
        })
        .collect::<Option<Vec<Option<FileReport>>>>()?;
    let reports = reports.into_iter().flatten().collect();
    Some(RunOutcome { reports, warnings: stored.warnings, files_checked: stored.files_checked })
}

/// Positions in `files`, largest file first. A file's parse tree is the largest thing a run holds (about 60 MB for a
/// 2.9 MB module), and the summaries of the files done so far grow through the run: parsing the largest files while
/// few summaries exist lowers the peak (224 to 157 MB on the benchmark corpus, in the same time).
fn largest_first(files: &[Located]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&position| std::cmp::Reverse(files[position].size));
    order
}

/// A file after the second phase: its report, if it has something to show, and what the project cache keeps of it.
struct Finished {
    report: Option<FileReport>,
    cache_entry: Option<cache::Entry>,
}

fn finish_file(
    file: Analysed,
    index: &ProjectIndex,
    settings: &Settings,
    options: &RunOptions,
    project_cache: Option<&AnalysisCache>,
) -> Result<Finished, String> {
    let fix_mode = options.fix_mode;
    let wants_fixes = fix_mode != FixMode::None && !file.analysis.local_diagnostics.is_empty();
    let needs_project_check = file.analysis.needs_project_check(index, settings);
    let text = match file.text {
        Some(text) => text,
        None if needs_project_check => read_source(&file.path, options.stdin)?,
        None => return Ok(Finished { report: None, cache_entry: None }),
    };
    // A file the index has findings for keeps them from the run before when neither its text (the one its candidates
    // came from, read again now) nor the index's answers for it changed.
    let project_key = match (project_cache, file.key) {
        (Some(cache), Some(key))
            if needs_project_check
                && !is_stdin(options.stdin, &file.path)
                && cache.key(settings, &file.module, &file.display, &text.text) == key =>
        {
            Some(AnalysisCache::derived_key(key, |hasher| file.analysis.hash_project_answers(index, hasher)))
        }
        _ => None,
    };
    let cached =
        project_cache.zip(project_key).and_then(|(cache, key)| cache.lookup::<Vec<Diagnostic>>(&file.path, key));
    if let Some((diagnostics, entry)) = cached {
        let report = FileReport::unfixed(file.path, file.display, text, diagnostics);
        return Ok(Finished { report, cache_entry: Some(entry) });
    }
    if !wants_fixes && !needs_project_check {
        let report = FileReport::unfixed(file.path, file.display, text, file.analysis.local_diagnostics);
        return Ok(Finished { report, cache_entry: None });
    }
    let Source { text, notebook } = text;
    let original = text.clone();
    let document = Document::new(file.display.clone(), text);
    let mut warnings = Vec::new();
    let mut cache_entry = None;
    let from_stdin = is_stdin(options.stdin, &file.path);
    if fix_mode == FixMode::None {
        let diagnostics = check(&document, &file.module, index, settings);
        cache_entry = project_key.and_then(|key| cache::Entry::fresh(&file.path, key, &diagnostics));
        let report = FileReport::unfixed(file.path, file.display, Source { text: original, notebook }, diagnostics);
        return Ok(Finished { report, cache_entry });
    }
    let outcome = fix_all(document, &file.module, index, settings, |applicability| fix_mode.allows(applicability));
    let (mut diagnostics, mut fixed, converged) = (outcome.diagnostics, outcome.fixed, outcome.converged);
    let fixed_text = outcome.document.into_text();
    let mut refused = false;
    let (source, original_notebook) = match notebook {
        None => (Source { text: fixed_text, notebook: None }, None),
        Some(notebook) if fixed.is_empty() => (Source { text: fixed_text, notebook: Some(notebook) }, None),
        Some(notebook) => match notebook.apply(&outcome.rounds, &fixed_text) {
            Ok(edited) => (Source { text: fixed_text, notebook: Some(edited) }, Some(notebook)),
            Err(reason) => {
                // Nothing is written: the findings are those of the notebook as it is.
                warnings.push(format!("{}: the fixes were not applied: {reason}", file.display));
                let unfixed = Document::new(file.display.clone(), original.as_str());
                diagnostics = check(&unfixed, &file.module, index, settings);
                fixed.clear();
                refused = true;
                (Source { text: original.clone(), notebook: Some(notebook) }, None)
            }
        },
    };
    let source = SourceText::new(file.display, source);
    if !fixed.is_empty() && options.fix_output == FixOutput::Files && !from_stdin {
        write_atomically(&file.path, source.written())?;
    }
    if !converged {
        warnings.push(format!("{}: fixes had not settled after {MAX_FIX_ROUNDS} rounds; run again", source.display));
    } else if !refused {
        // A wanted fix still offered once fixing settled is one whose result would not parse.
        for diagnostic in &diagnostics {
            if diagnostic.preferred_fix().is_some_and(|fix| fix_mode.allows(fix.applicability)) {
                warnings.push(format!(
                    "{}: the {} fix was not applied: the fixed text would not parse",
                    source.label(diagnostic.range.start),
                    diagnostic.code
                ));
            }
        }
    }
    if diagnostics.is_empty() && fixed.is_empty() {
        return Ok(Finished { report: None, cache_entry });
    }
    let original = (!fixed.is_empty())
        .then(|| SourceText::new(source.display.clone(), Source { text: original, notebook: original_notebook }));
    let report = FileReport { path: file.path, source, diagnostics, fixed, original, warnings };
    Ok(Finished { report: Some(report), cache_entry })
}

/// `--add-noqa`: writes a `# noqa` for every finding into its file. Returns how many directives were written and the
/// files that could not be written.
pub fn add_noqa(reports: &[FileReport]) -> (usize, Vec<String>) {
    let mut added = 0;
    let mut warnings = Vec::new();
    for report in reports {
        let document = Document::new(report.source.display.clone(), report.source.text.as_str());
        let edits = suppressions::noqa_edits(&document, &report.diagnostics);
        if edits.is_empty() {
            continue;
        }
        let text = fix::apply_edits(document.text(), &edits);
        let written = match &report.source.notebook {
            None => Ok(text),
            Some(notebook) => notebook
                .apply(std::slice::from_ref(&edits), &text)
                .map(|edited| edited.json().to_owned())
                .map_err(|reason| format!("{}: no noqa directives added: {reason}", report.source.display)),
        };
        match written.and_then(|text| write_atomically(&report.path, &text)) {
            Ok(()) => added += edits.len(),
            Err(warning) => warnings.push(warning),
        }
    }
    (added, warnings)
}

/// Writes through a temporary file in the same directory, then renames it over the original, keeping its
/// permissions: an interrupted run leaves either the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let fail = |error: std::io::Error| format!("{}: cannot write the fixed file: {error}", path.display());
    let directory = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let permissions = std::fs::metadata(path).map_err(fail)?.permissions();
    let mut temporary = tempfile::NamedTempFile::new_in(directory).map_err(fail)?;
    temporary.write_all(text.as_bytes()).map_err(fail)?;
    temporary.as_file().sync_all().map_err(fail)?;
    std::fs::set_permissions(temporary.path(), permissions).map_err(fail)?;
    temporary.persist(path).map_err(|error| fail(error.error))?;
    Ok(())
}

/// A file's path relative to the project root, which `per-file-ignores` patterns match.
fn relative_to<'p>(path: &'p Path, root: &Path) -> &'p Path {
    path.strip_prefix(root).unwrap_or(path)
}

/// Paths are shown relative to the working directory when they are under it, as given otherwise.
fn display_path(path: &Path, cwd: Option<&Path>) -> String {
    let shown = cwd.and_then(|cwd| path.strip_prefix(cwd).ok()).unwrap_or(path);
    shown.display().to_string()
}
