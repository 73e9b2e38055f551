//! The project's installed Python environment, for following calls into dependencies: finding it without running
//! Python, telling which distribution (`*.dist-info`) a module belongs to, and reading and summarising the modules
//! the core's walk asks for, or taking their summaries from the dependency cache.
//!
//! The dependency cache keeps one file per distribution and version (`name-version-HASH.bin`), so that a second run,
//! or a second project with the same package installed, parses nothing. HASH covers the distribution's `RECORD` (the
//! installed files and their hashes) and the catalogue, and the file starts with a format tag and the fingerprint of
//! the asynclint build that wrote it: anything else is ignored and rewritten. The directory holds at most
//! [`MAX_CACHE_FILES`] files and [`MAX_CACHE_BYTES`] bytes; past either, the files used least recently go.

use std::collections::HashMap;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use rayon::prelude::*;
use xxhash_rust::xxh3::Xxh3;

use crate::cache;
use crate::core::check::{summarize_dependency, ModuleInfo};
use crate::core::dependencies::{DependencyModule, DependencySource};
use crate::core::document::Document;
use crate::core::settings::Settings;
use crate::core::summary::ModuleSummary;

/// Identifies the layout of a distribution's cache file.
const MAGIC: &[u8; 8] = b"ALDEPS02";
/// At most this many distributions' files in the dependency cache.
pub const MAX_CACHE_FILES: usize = 2000;
/// At most this many bytes in the dependency cache.
pub const MAX_CACHE_BYTES: u64 = 256 << 20;

/// Where the environment was found, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// `$VIRTUAL_ENV`: an activated virtual environment.
    VirtualEnv,
    /// `.venv` or `venv` in the project root.
    ProjectDirectory,
    /// The `python-environment` setting (or `--python-environment`).
    Configured,
}

/// The first of `$VIRTUAL_ENV`, `ROOT/.venv`, `ROOT/venv` and the configured path that holds a `site-packages`
/// directory, with its `site-packages` directories.
pub fn find(root: &Path, configured: Option<&Path>) -> Option<(PathBuf, Found, Vec<PathBuf>)> {
    let from_variable = std::env::var_os("VIRTUAL_ENV").filter(|value| !value.is_empty()).map(PathBuf::from);
    let candidates = from_variable
        .map(|path| (path, Found::VirtualEnv))
        .into_iter()
        .chain([".venv", "venv"].map(|name| (root.join(name), Found::ProjectDirectory)))
        .chain(configured.map(|path| (path.to_path_buf(), Found::Configured)));
    for (path, found) in candidates {
        let directories: Vec<PathBuf> =
            site_packages(&path).into_iter().map(|path| path.canonicalize().unwrap_or(path)).collect();
        if !directories.is_empty() {
            return Some((path, found, directories));
        }
    }
    None
}

/// An environment's `site-packages` directories: `lib/python3.*/site-packages` (newest Python first), Windows'
/// `Lib/site-packages`, or the path itself when it is one.
pub fn site_packages(environment: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(environment.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("python3"))
        .map(|entry| entry.path().join("site-packages"))
        .filter(|path| path.is_dir())
        .collect();
    // `python3.12` above `python3.9`: by the minor version as a number.
    found.sort_by_key(|path| {
        let version = path.parent().and_then(Path::file_name).map(|name| name.to_string_lossy().into_owned());
        let minor = version.as_deref().and_then(|name| name.strip_prefix("python3.")).and_then(|m| m.parse().ok());
        std::cmp::Reverse(minor.unwrap_or(0u32))
    });
    let windows = environment.join("Lib").join("site-packages");
    if windows.is_dir() && !found.contains(&windows) {
        found.push(windows);
    }
    if found.is_empty() && environment.file_name().is_some_and(|name| name == "site-packages") && environment.is_dir() {
        found.push(environment.to_path_buf());
    }
    found
}

/// What a run's key must include of the environment: its `site-packages` directories and their stamps (installing,
/// upgrading or removing a distribution adds or removes a `*.dist-info` directory there, which changes the stamp).
/// None when a stamp cannot vouch for the directory (changed just now).
pub fn fingerprint(directories: &[PathBuf], run_started: SystemTime) -> Option<u128> {
    let mut hasher = Xxh3::new();
    hasher.write(b"environment");
    for directory in directories {
        let bytes = directory.as_os_str().as_encoded_bytes();
        hasher.write_usize(bytes.len());
        hasher.write(bytes);
        hasher.write(&cache::file_stamp(&std::fs::metadata(directory).ok()?, run_started)?);
    }
    Some(hasher.digest128())
}

/// The dependency cache's directory: `dependencies` in an explicitly chosen cache directory (`--cache-dir`,
/// `ASYNCLINT_CACHE_DIR`), else the user's cache, shared by all projects: `$XDG_CACHE_HOME/asynclint/dependencies`,
/// `~/.cache/asynclint/dependencies`, or on Windows `%LOCALAPPDATA%\asynclint\dependencies`.
pub fn cache_directory(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(directory) = explicit {
        return Some(directory.join("dependencies"));
    }
    let variable = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    if let Some(directory) = variable("ASYNCLINT_CACHE_DIR") {
        return Some(directory.join("dependencies"));
    }
    let user = variable("XDG_CACHE_HOME")
        .or_else(|| variable("HOME").map(|home| home.join(".cache")))
        .or_else(|| variable("LOCALAPPDATA"))?;
    Some(user.join("asynclint").join("dependencies"))
}

/// An installed distribution, as its `*.dist-info` directory describes it.
struct Distribution {
    /// `name version`, as messages show it.
    label: Arc<str>,
    /// Its cache file's name, once its `RECORD` is read; `None` when it has none (nothing is cached for it).
    cache_file: OnceLock<Option<String>>,
    dist_info: PathBuf,
    /// Its summaries: those the cache file held, and those made this run.
    summaries: Mutex<Option<HashMap<String, ModuleSummary>>>,
    /// Whether this run made summaries the cache file lacks.
    dirty: std::sync::atomic::AtomicBool,
}

/// The environment as a [`DependencySource`] for the core's walk.
pub struct Environment {
    directories: Vec<PathBuf>,
    settings: Settings,
    /// How a dependency file's path is shown (relative to the working directory, as project files are).
    display: Box<dyn Fn(&Path) -> String + Send + Sync>,
    cache: Option<PathBuf>,
    /// Top-level module name → its distribution, read from the `*.dist-info` directories on first use.
    owners: OnceLock<HashMap<String, Arc<Distribution>>>,
    /// Distributions by `*.dist-info` directory, so that the ones used are saved.
    used: Mutex<Vec<Arc<Distribution>>>,
    /// How many files this run read and summarised, and how many summaries came from the cache.
    pub parsed: AtomicUsize,
    pub from_cache: AtomicUsize,
}

impl Environment {
    pub fn new(
        directories: Vec<PathBuf>,
        settings: &Settings,
        cache: Option<PathBuf>,
        display: impl Fn(&Path) -> String + Send + Sync + 'static,
    ) -> Self {
        Environment {
            directories,
            settings: settings.clone(),
            display: Box::new(display),
            cache,
            owners: OnceLock::new(),
            used: Mutex::new(Vec::new()),
            parsed: AtomicUsize::new(0),
            from_cache: AtomicUsize::new(0),
        }
    }

    pub fn directories(&self) -> &[PathBuf] {
        &self.directories
    }

    /// The file of a module: `a/b.py` or `a/b/__init__.py` (never a `.pyi` stub: stubs say nothing about blocking),
    /// with whether it is a package.
    fn file_of(&self, module: &str) -> Option<(PathBuf, PathBuf, bool)> {
        let relative: PathBuf = module.split('.').collect();
        self.directories.iter().find_map(|directory| {
            let base = directory.join(&relative);
            let file = base.with_extension("py");
            if file.is_file() {
                return Some((directory.clone(), file, false));
            }
            let init = base.join("__init__.py");
            init.is_file().then(|| (directory.clone(), init, true))
        })
    }

    fn owners(&self) -> &HashMap<String, Arc<Distribution>> {
        self.owners.get_or_init(|| {
            let mut owners = HashMap::new();
            for directory in &self.directories {
                let mut infos: Vec<PathBuf> = std::fs::read_dir(directory)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|path| path.extension().is_some_and(|extension| extension == "dist-info"))
                    .collect();
                infos.sort();
                for info in infos {
                    let Some(distribution) = read_distribution(&info) else { continue };
                    let distribution = Arc::new(distribution);
                    for top in top_levels(&info) {
                        owners.entry(top).or_insert_with(|| distribution.clone());
                    }
                }
            }
            owners
        })
    }

    /// The summaries of a distribution, read from its cache file the first time.
    fn with_summaries<T>(
        &self,
        distribution: &Arc<Distribution>,
        use_them: impl FnOnce(&mut HashMap<String, ModuleSummary>) -> T,
    ) -> T {
        let mut summaries = distribution.summaries.lock().expect("no panics while holding the lock");
        let summaries = summaries.get_or_insert_with(|| {
            self.used.lock().expect("no panics while holding the lock").push(distribution.clone());
            let file = self.cache_file(distribution);
            let stored = self.cache.as_ref().zip(file).and_then(|(directory, file)| read_cache(&directory.join(file)));
            stored.unwrap_or_default()
        });
        use_them(summaries)
    }

    fn cache_file(&self, distribution: &Distribution) -> Option<String> {
        distribution
            .cache_file
            .get_or_init(|| {
                let record = std::fs::read(distribution.dist_info.join("RECORD")).ok()?;
                let mut hasher = Xxh3::new();
                hasher.write(&record);
                hasher.write_u64(self.settings.catalogue().fingerprint());
                let name: String = distribution
                    .label
                    .chars()
                    .map(|character| if character.is_alphanumeric() || character == '.' { character } else { '-' })
                    .collect();
                Some(format!("{name}-{:016x}.bin", hasher.digest128() as u64))
            })
            .clone()
    }

    /// Writes the cache files of the distributions whose summaries this run added to, and keeps the cache within
    /// its bounds. Returns a warning when the cache cannot be written.
    pub fn save(&self) -> Result<(), String> {
        let Some(directory) = &self.cache else { return Ok(()) };
        let used = self.used.lock().expect("no panics while holding the lock");
        let now = SystemTime::now();
        for distribution in used.iter() {
            let Some(file) = self.cache_file(distribution) else { continue };
            if !distribution.dirty.load(Ordering::Relaxed) {
                // Used: it stays among the most recently used files the bound keeps.
                if let Ok(opened) = std::fs::File::options().write(true).open(directory.join(&file)) {
                    let _ = opened.set_modified(now);
                }
                continue;
            }
            let summaries = distribution.summaries.lock().expect("no panics while holding the lock");
            let Some(summaries) = summaries.as_ref() else { continue };
            let Some(binary) = cache::binary_fingerprint() else { return Ok(()) };
            let mut entries: Vec<(&String, &ModuleSummary)> = summaries.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let encoded = postcard::to_allocvec(&entries)
                .map_err(|error| format!("cannot encode the dependency cache: {error}"))?;
            let mut bytes = Vec::with_capacity(encoded.len() + 24);
            bytes.extend_from_slice(MAGIC);
            bytes.extend_from_slice(&binary.to_le_bytes());
            bytes.extend_from_slice(&encoded);
            cache::replace_file(directory, &file, &bytes)?;
        }
        prune(directory);
        Ok(())
    }
}

impl DependencySource for Environment {
    fn has_module(&self, module: &str) -> bool {
        if !module.contains('.') {
            // A top-level name: a namespace package (a directory without `__init__.py`) counts, so that its
            // submodules are looked for.
            let relative = Path::new(module);
            return self.directories.iter().any(|directory| {
                let base = directory.join(relative);
                base.with_extension("py").is_file() || base.is_dir()
            });
        }
        self.file_of(module).is_some()
    }

    fn load(&self, modules: &[String]) -> Vec<Option<DependencyModule>> {
        modules
            .par_iter()
            .map(|module| {
                let (directory, file, is_package) = self.file_of(module)?;
                let relative = file.strip_prefix(&directory).ok()?.to_string_lossy().into_owned();
                let top = module.split('.').next().unwrap_or(module);
                let owner = self.owners().get(top).cloned();
                let cached = owner
                    .as_ref()
                    .and_then(|owner| self.with_summaries(owner, |summaries| summaries.get(&relative).cloned()));
                let mut summary = match cached {
                    Some(summary) => {
                        self.from_cache.fetch_add(1, Ordering::Relaxed);
                        summary
                    }
                    None => {
                        let text = String::from_utf8(std::fs::read(&file).ok()?).ok()?;
                        let document = Document::new(relative.clone(), text);
                        let info = ModuleInfo { name: module.clone(), is_package, notebook: false };
                        let summary = summarize_dependency(&document, &info, &self.settings);
                        self.parsed.fetch_add(1, Ordering::Relaxed);
                        if let Some(owner) = &owner {
                            self.with_summaries(owner, |summaries| summaries.insert(relative.clone(), summary.clone()));
                            owner.dirty.store(true, Ordering::Relaxed);
                        }
                        summary
                    }
                };
                summary.path = (self.display)(&file);
                let distribution = owner.map_or_else(|| Arc::from(top), |owner| owner.label.clone());
                Some(DependencyModule { summary, distribution })
            })
            .collect()
    }
}

/// A distribution's name and version: from `METADATA`'s headers, else from the directory's name
/// (`name-version.dist-info`).
fn read_distribution(info: &Path) -> Option<Distribution> {
    let stem = info.file_stem()?.to_string_lossy().into_owned();
    let (mut name, mut version) = match stem.split_once('-') {
        Some((name, version)) => (name.to_owned(), version.to_owned()),
        None => (stem.clone(), String::new()),
    };
    // Only the headers: a long description follows them, often most of the file.
    if let Ok(metadata) = std::fs::File::open(info.join("METADATA")) {
        let lines = std::io::BufRead::lines(std::io::BufReader::new(metadata)).map_while(Result::ok);
        for line in lines.take_while(|line| !line.is_empty()) {
            if let Some(value) = line.strip_prefix("Name:") {
                name = value.trim().to_owned();
            } else if let Some(value) = line.strip_prefix("Version:") {
                version = value.trim().to_owned();
            }
        }
    }
    let label = if version.is_empty() { name } else { format!("{name} {version}") };
    Some(Distribution {
        label: Arc::from(label),
        cache_file: OnceLock::new(),
        dist_info: info.to_path_buf(),
        summaries: Mutex::new(None),
        dirty: std::sync::atomic::AtomicBool::new(false),
    })
}

/// The top-level modules a distribution installs: `top_level.txt`, else the first parts of the Python files its
/// `RECORD` lists.
fn top_levels(info: &Path) -> Vec<String> {
    if let Ok(text) = std::fs::read_to_string(info.join("top_level.txt")) {
        let names: Vec<String> =
            text.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_owned).collect();
        if !names.is_empty() {
            return names;
        }
    }
    let Ok(record) = std::fs::read_to_string(info.join("RECORD")) else { return Vec::new() };
    let mut names: Vec<String> = record
        .lines()
        .filter_map(|line| line.split(',').next())
        .filter(|path| path.ends_with(".py") && !path.starts_with(".."))
        .filter_map(|path| {
            let first = path.split('/').next()?;
            Some(first.strip_suffix(".py").unwrap_or(first).to_owned())
        })
        .filter(|name| !name.ends_with(".dist-info") && name != "__pycache__")
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// A distribution's cache file, if this build wrote it and it is whole.
fn read_cache(path: &Path) -> Option<HashMap<String, ModuleSummary>> {
    let bytes = std::fs::read(path).ok()?;
    let (magic, rest) = bytes.split_at_checked(MAGIC.len())?;
    let (binary, rest) = rest.split_at_checked(16)?;
    if magic != MAGIC || u128::from_le_bytes(binary.try_into().ok()?) != cache::binary_fingerprint()? {
        return None;
    }
    let entries: Vec<(String, ModuleSummary)> = postcard::from_bytes(rest).ok()?;
    Some(entries.into_iter().collect())
}

/// Deletes the least recently used cache files while the directory holds more than the bounds allow.
fn prune(directory: &Path) {
    let mut files: Vec<(SystemTime, u64, PathBuf)> = std::fs::read_dir(directory)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|extension| extension == "bin"))
        .filter_map(|entry| {
            let metadata = entry.metadata().ok()?;
            Some((metadata.modified().ok()?, metadata.len(), entry.path()))
        })
        .collect();
    let mut total: u64 = files.iter().map(|(_, size, _)| size).sum();
    if files.len() <= MAX_CACHE_FILES && total <= MAX_CACHE_BYTES {
        return;
    }
    files.sort();
    let mut count = files.len();
    for (_, size, path) in files {
        if count <= MAX_CACHE_FILES && total <= MAX_CACHE_BYTES {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            count -= 1;
            total -= size;
        }
    }
}
