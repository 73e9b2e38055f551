//! Finding things on disk for both front ends (CLI and language server): the project root, the config file, the
//! Python files and Jupyter notebooks (`.gitignore`-aware), and each file's module name.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::core::check::ModuleInfo;
use crate::core::index::module_name;
use crate::core::settings::{self, Config, ConfigError, Settings};

/// Directories no one wants linted, skipped unless named explicitly (as ruff does).
const DEFAULT_EXCLUDED_DIRS: &[&str] = &[
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".git-rewrite",
    ".hg",
    ".ipynb_checkpoints",
    ".mypy_cache",
    ".nox",
    ".pants.d",
    ".pyenv",
    ".pytest_cache",
    ".pytype",
    ".ruff_cache",
    ".svn",
    ".tox",
    ".venv",
    ".vscode",
    "__pypackages__",
    "_build",
    "buck-out",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
];

/// The nearest ancestor of `start` (itself included) holding `pyproject.toml` or `.git`; else `start` itself (or
/// its directory, for a file).
pub fn project_root(start: &Path) -> PathBuf {
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    let directory = if start.is_file() { start.parent().map(Path::to_path_buf).unwrap_or(start) } else { start };
    directory
        .ancestors()
        .find(|dir| dir.join("pyproject.toml").is_file() || dir.join(".git").exists())
        .map(Path::to_path_buf)
        .unwrap_or(directory)
}

/// A config found on disk, and which file it came from.
pub struct LoadedConfig {
    pub config: Config,
    pub path: Option<PathBuf>,
}

/// `--config PATH`, or the nearest `asynclint.toml` / `pyproject.toml` with a `[tool.asynclint]` table from `start`
/// upward. `asynclint.toml` wins over `pyproject.toml` in the same directory. A `pyproject.toml` without our table
/// still lends its `requires-python`.
pub fn load_config(explicit: Option<&Path>, start: &Path) -> Result<LoadedConfig, String> {
    let read =
        |path: &Path| std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()));
    let in_file = |path: &Path, error: ConfigError| format!("{}: {}", path.display(), error.message.trim_end());
    if let Some(path) = explicit {
        let text = read(path)?;
        let config = if path.file_name().is_some_and(|name| name == "pyproject.toml") {
            settings::parse_pyproject(&text).map_err(|error| in_file(path, error))?.config
        } else {
            settings::parse_asynclint_toml(&text).map_err(|error| in_file(path, error))?
        };
        return Ok(LoadedConfig { config, path: Some(path.to_path_buf()) });
    }
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    // The nearest pyproject.toml is the project: its `requires-python` (or its lack of one) is the default target,
    // even when the asynclint table comes from further up, so a parent project's Python does not leak in.
    let mut nearest_requires_python: Option<Option<String>> = None;
    for directory in start.ancestors() {
        let dedicated = directory.join("asynclint.toml");
        if dedicated.is_file() {
            let mut config =
                settings::parse_asynclint_toml(&read(&dedicated)?).map_err(|error| in_file(&dedicated, error))?;
            config.requires_python = nearest_requires_python.flatten();
            return Ok(LoadedConfig { config, path: Some(dedicated) });
        }
        let pyproject = directory.join("pyproject.toml");
        if pyproject.is_file() {
            let mut parsed =
                settings::parse_pyproject(&read(&pyproject)?).map_err(|error| in_file(&pyproject, error))?;
            let nearest = nearest_requires_python.get_or_insert_with(|| parsed.config.requires_python.clone());
            if parsed.has_table {
                parsed.config.requires_python = nearest.clone();
                return Ok(LoadedConfig { config: parsed.config, path: Some(pyproject) });
            }
        }
    }
    Ok(LoadedConfig {
        config: Config { requires_python: nearest_requires_python.flatten(), ..Config::default() },
        path: None,
    })
}

/// The exclusion globs of the settings, matched against a path relative to the root and against each of its parts.
pub struct Exclusions {
    globs: GlobSet,
}

impl Exclusions {
    pub fn new(settings: &Settings) -> Result<Self, String> {
        let mut builder = GlobSetBuilder::new();
        for pattern in &settings.exclude {
            let glob = Glob::new(pattern).map_err(|error| format!("invalid exclude pattern `{pattern}`: {error}"))?;
            builder.add(glob);
        }
        Ok(Exclusions { globs: builder.build().map_err(|error| error.to_string())? })
    }

    pub fn excludes(&self, relative: &Path) -> bool {
        self.globs.is_match(relative) || relative.components().any(|part| self.globs.is_match(part.as_os_str()))
    }
}

/// What a notebook's module name ends with: not an identifier, so no `import` resolves to it.
pub const NOTEBOOK_MODULE_SUFFIX: &str = "-ipynb";

/// Whether a path names a Jupyter notebook (`.ipynb`), which `check` reads as the code of its cells.
pub fn is_notebook(path: &Path) -> bool {
    path.extension().is_some_and(|extension| extension == "ipynb")
}

/// Python files and notebooks under `paths`, sorted. Directories are walked `.gitignore`-aware, skipping the default
/// excluded directories and the settings' `exclude`; files named explicitly are always included. Problems
/// (unreadable directories, symlink loops) are returned as warnings, not errors.
pub fn discover(paths: &[PathBuf], root: &Path, exclusions: &Exclusions) -> (Vec<PathBuf>, Vec<String>) {
    let files = Mutex::new(Vec::new());
    let warnings = Mutex::new(Vec::new());
    for path in paths {
        if path.is_file() {
            files.lock().expect("no panics while holding the lock").push(path.clone());
            continue;
        }
        let walker = ignore::WalkBuilder::new(path)
            .hidden(false)
            .git_global(false)
            .require_git(false)
            .follow_links(false)
            .filter_entry(|entry| {
                let name = entry.file_name().to_string_lossy();
                let is_dir = entry.file_type().is_some_and(|kind| kind.is_dir());
                !(is_dir && entry.depth() > 0 && DEFAULT_EXCLUDED_DIRS.contains(&name.as_ref()))
            })
            .build_parallel();
        walker.run(|| {
            Box::new(|entry| {
                match entry {
                    Ok(entry) => {
                        let path = entry.path();
                        let is_python = entry.file_type().is_some_and(|kind| kind.is_file())
                            && (path.extension().is_some_and(|extension| extension == "py" || extension == "pyi")
                                || is_notebook(path));
                        let relative = path.strip_prefix(root).unwrap_or(path);
                        if is_python && !exclusions.excludes(relative) {
                            files.lock().expect("no panics while holding the lock").push(path.to_path_buf());
                        }
                    }
                    Err(error) => warnings.lock().expect("no panics while holding the lock").push(error.to_string()),
                }
                ignore::WalkState::Continue
            })
        });
    }
    let mut files = files.into_inner().expect("walker threads are done");
    files.sort();
    files.dedup();
    (files, warnings.into_inner().expect("walker threads are done"))
}

/// The files that mark a directory as a Python project's root: each project root has its own module namespace.
pub const PROJECT_MARKERS: &[&str] = &["pyproject.toml", "setup.py", "setup.cfg", ".git"];

/// Answers "is this directory a package?" (it has `__init__.py`) and "is it a project's root?" (it has one of the
/// [`PROJECT_MARKERS`]), remembering each answer.
#[derive(Default)]
pub struct PackageCache {
    packages: Mutex<DirectoryAnswers>,
    project_roots: Mutex<DirectoryAnswers>,
}

/// Answers by directory, keyed by the path's bytes: `Path`'s own hash walks its components, which cost a large
/// project's warm run more than the answers themselves.
type DirectoryAnswers = HashMap<OsString, bool, foldhash::fast::RandomState>;

/// A remembered answer about a directory, computed once.
fn remembered(known: &Mutex<DirectoryAnswers>, directory: &Path, compute: impl FnOnce() -> bool) -> bool {
    if let Some(known) = known.lock().expect("no panics while holding the lock").get(directory.as_os_str()) {
        return *known;
    }
    let answer = compute();
    known.lock().expect("no panics while holding the lock").insert(directory.as_os_str().to_owned(), answer);
    answer
}

impl PackageCache {
    fn is_package(&self, directory: &Path) -> bool {
        remembered(&self.packages, directory, || directory.join("__init__.py").is_file())
    }

    fn is_project_root(&self, directory: &Path) -> bool {
        remembered(&self.project_roots, directory, || {
            PROJECT_MARKERS.iter().any(|marker| directory.join(marker).exists())
        })
    }

    /// The root of the project a file belongs to (see [`PackageCache::namespace_of`]) and the module it is there.
    pub fn locate(&self, file: &Path, root: &Path) -> (PathBuf, ModuleInfo) {
        let absolute = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
        self.locate_canonical(&absolute, root)
    }

    /// [`PackageCache::locate`] for a path that is canonical already (absolute, without symlinks or `..`), as
    /// `check`'s discovery yields them: resolving each of a large project's paths again costs a system call per path
    /// component.
    pub fn locate_canonical(&self, file: &Path, root: &Path) -> (PathBuf, ModuleInfo) {
        let namespace = self.namespace_of(file, root);
        let module = self.module_of(file, &namespace);
        (namespace, module)
    }

    /// The root of the project a file (a canonical path) belongs to, whose module namespace it is named in: its
    /// nearest ancestor below `root` with a project marker, else `root`. Two projects under one parent, each with an
    /// `app` package, are two namespaces: `asynclint check PARENT` must not resolve one project's `app.b` to the
    /// other's file.
    fn namespace_of(&self, absolute: &Path, root: &Path) -> PathBuf {
        absolute
            .ancestors()
            .skip(1)
            .take_while(|directory| directory.starts_with(root) && *directory != root)
            .find(|directory| self.is_project_root(directory))
            .map_or_else(|| root.to_path_buf(), Path::to_path_buf)
    }

    /// The module a file (a canonical path) is, climbing package directories but never above `root`.
    fn module_of(&self, absolute: &Path, root: &Path) -> ModuleInfo {
        let (base, relative) = match absolute.strip_prefix(root) {
            Ok(relative) => (root.to_path_buf(), relative.to_path_buf()),
            // Outside the root (a file named on the command line from another project): its own packages still
            // decide its name, so `other/pkg/logging.py` is `pkg.logging`, never the standard library's `logging`.
            Err(_) => {
                let mut base = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
                while base.parent().is_some() && self.is_package(&base) {
                    base = base.parent().map(Path::to_path_buf).unwrap_or_default();
                }
                let relative = absolute.strip_prefix(&base).map(Path::to_path_buf).unwrap_or_default();
                (base, relative)
            }
        };
        let (mut name, is_package) = module_name(&relative, |directory| self.is_package(&base.join(directory)));
        let notebook = is_notebook(absolute);
        if notebook {
            // No import reaches a notebook: a name that is not an identifier keeps `demo.ipynb` from standing in for
            // `demo.py` (jupytext pairs the two) when another file imports `demo`.
            name.push_str(NOTEBOOK_MODULE_SUFFIX);
        }
        ModuleInfo { name, is_package, notebook }
    }
}
