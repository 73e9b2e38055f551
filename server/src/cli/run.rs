//! One `asynclint check` run: read and summarise every project file in parallel, build the index, check the
//! requested files in parallel, and apply fixes when asked.

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::core::check::{check, summarize_document, ModuleInfo};
use crate::core::diagnostic::{Applicability, Diagnostic};
use crate::core::document::Document;
use crate::core::fix;
use crate::core::index::ProjectIndex;
use crate::core::settings::Settings;

use super::workspace::PackageCache;

/// Rounds of fixing before giving up on convergence (a fix may enable another, e.g. after `import asyncio` lands).
const MAX_FIX_ROUNDS: usize = 10;

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

/// The outcome for one checked file. The document is kept only when there is something to show.
pub struct FileReport {
    pub path: PathBuf,
    pub document: Document,
    pub diagnostics: Vec<Diagnostic>,
    pub fixes_applied: usize,
}

pub struct RunOutcome {
    pub reports: Vec<FileReport>,
    pub warnings: Vec<String>,
    pub files_checked: usize,
}

struct Loaded {
    path: PathBuf,
    module: ModuleInfo,
    text: String,
}

/// Reads a Python file as UTF-8 text, or says why not.
fn read_source(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("{}: cannot read: {error}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{}: skipped: not valid UTF-8", path.display()))
}

/// `index_files` are read to build the project index; `checked` (a subset, by path) are checked and reported.
pub fn run(
    index_files: &[PathBuf],
    checked: &[PathBuf],
    root: &Path,
    settings: &Settings,
    fix_mode: FixMode,
) -> RunOutcome {
    let packages = PackageCache::default();
    let loaded: Vec<Result<Loaded, String>> = index_files
        .par_iter()
        .map(|path| {
            let text = read_source(path)?;
            Ok(Loaded {
                path: path.clone(),
                module: packages.module_of(path, root),
                text,
            })
        })
        .collect();
    let mut warnings = Vec::new();
    let mut sources = Vec::with_capacity(loaded.len());
    for result in loaded {
        match result {
            Ok(source) => sources.push(source),
            Err(warning) => warnings.push(warning),
        }
    }
    let summaries: Vec<_> = sources
        .par_iter()
        .map(|source| {
            let document = Document::new(display_path(&source.path), source.text.as_str());
            summarize_document(&document, &source.module, settings)
        })
        .collect();
    let index = ProjectIndex::new(summaries);

    let checked: std::collections::HashSet<&PathBuf> = checked.iter().collect();
    let files_checked = sources.iter().filter(|source| checked.contains(&source.path)).count();
    let results: Vec<Result<Option<FileReport>, String>> = sources
        .into_par_iter()
        .filter(|source| checked.contains(&source.path))
        .map(|source| check_file(source, &index, settings, fix_mode))
        .collect();
    let mut reports = Vec::new();
    for result in results {
        match result {
            Ok(Some(report)) => reports.push(report),
            Ok(None) => {}
            Err(warning) => warnings.push(warning),
        }
    }
    reports.sort_by(|a, b| a.path.cmp(&b.path));
    RunOutcome {
        reports,
        warnings,
        files_checked,
    }
}

fn check_file(
    source: Loaded,
    index: &ProjectIndex,
    settings: &Settings,
    fix_mode: FixMode,
) -> Result<Option<FileReport>, String> {
    let mut document = Document::new(display_path(&source.path), source.text);
    let mut diagnostics = check(&document, &source.module, index, settings);
    let mut fixes_applied = 0;
    if fix_mode != FixMode::None {
        for _ in 0..MAX_FIX_ROUNDS {
            let fixes = diagnostics
                .iter()
                .filter_map(Diagnostic::preferred_fix)
                .filter(|fix| fix_mode.allows(fix.applicability));
            let (fixed, applied) = fix::apply_non_overlapping(&document, fixes);
            if applied == 0 {
                break;
            }
            fixes_applied += applied;
            document = Document::new(document.path.clone(), fixed);
            diagnostics = check(&document, &source.module, index, settings);
        }
        if fixes_applied > 0 {
            write_atomically(&source.path, document.text())?;
        }
    }
    if diagnostics.is_empty() && fixes_applied == 0 {
        return Ok(None);
    }
    Ok(Some(FileReport {
        path: source.path,
        document,
        diagnostics,
        fixes_applied,
    }))
}

/// Writes through a temporary file in the same directory, then renames it over the original, keeping its
/// permissions: an interrupted run leaves either the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let fail = |error: std::io::Error| format!("{}: cannot write the fixed file: {error}", path.display());
    let directory = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let permissions = std::fs::metadata(path).map_err(fail)?.permissions();
    let mut temporary = tempfile::NamedTempFile::new_in(directory).map_err(fail)?;
    temporary.write_all(text.as_bytes()).map_err(fail)?;
    temporary.as_file().sync_all().map_err(fail)?;
    std::fs::set_permissions(temporary.path(), permissions).map_err(fail)?;
    temporary.persist(path).map_err(|error| fail(error.error))?;
    Ok(())
}

/// Paths are shown relative to the working directory when they are under it, as given otherwise.
pub fn display_path(path: &Path) -> String {
    let cwd = std::env::current_dir().ok().and_then(|cwd| cwd.canonicalize().ok());
    let shown = cwd
        .as_deref()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .unwrap_or(path);
    shown.display().to_string()
}
