//! The on-disk cache: what one parse of a file yields, kept between runs and keyed by a hash of everything it depends
//! on, so that a run parses only the files that changed. `check` keeps each file's summary and index-free findings;
//! the language server keeps the summaries it indexes a workspace with.
//!
//! One file per cache directory and use holds every entry: a header naming the asynclint binary that wrote it, then per
//! project file its path, its key and its analysis (postcard). Anything unreadable, truncated or written by another
//! build counts as an empty cache; the file is replaced atomically, so a crash never leaves half of one.

use std::collections::HashMap;
use std::hash::Hasher;
use std::ops::Range;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::core::check::ModuleInfo;
use crate::core::settings::Settings;

/// Identifies the layout; a new layout gets a new tag, and old files are then ignored.
const MAGIC: &[u8; 8] = b"ALCACHE1";
/// The cache file of `check` (a `FileAnalysis` per file).
pub const CHECK_FILE: &str = "analysis.bin";
/// The cache file of `check`'s findings for files whose findings depend on other files (all their diagnostics per
/// file, keyed by the file's key and the index's answers for it).
pub const PROJECT_FILE: &str = "project.bin";
/// The cache file of the language server's workspace index (a `ModuleSummary` per file).
pub const SERVER_FILE: &str = "summaries.bin";
/// The cache directory's name in the project root, unless configured.
const DEFAULT_DIRECTORY: &str = ".asynclint_cache";

/// Where a project's cache lives: `ASYNCLINT_CACHE_DIR`, else the `cache-dir` setting (relative to the directory of
/// the config file that sets it), else `.asynclint_cache` in the project root.
pub fn directory(root: &Path, configured: Option<&str>, config_file: Option<&Path>) -> PathBuf {
    match (std::env::var_os("ASYNCLINT_CACHE_DIR"), configured) {
        (Some(directory), _) if !directory.is_empty() => PathBuf::from(directory),
        (_, Some(directory)) => config_file.and_then(Path::parent).unwrap_or(root).join(directory),
        _ => root.join(DEFAULT_DIRECTORY),
    }
}

pub struct AnalysisCache {
    directory: PathBuf,
    /// The file in `directory`: one of [`CHECK_FILE`] and [`SERVER_FILE`], each holding one type of entry.
    file_name: &'static str,
    /// Which build of asynclint this process is: entries written by another build may differ, so they are not read.
    binary: u128,
    /// The cache file as read, and where each file's analysis lies in it.
    stored: Vec<u8>,
    entries: HashMap<PathBuf, (u128, Range<usize>)>,
}

/// One file's entry for the cache's next version.
pub struct Entry {
    path: PathBuf,
    key: u128,
    analysis: StoredAnalysis,
}

enum StoredAnalysis {
    /// Unchanged: these bytes of the file as read.
    Unchanged(Range<usize>),
    Fresh(Vec<u8>),
}

impl AnalysisCache {
    /// The cache in `directory`, empty if there is none there yet or it cannot be used. None when this process
    /// cannot tell which build it is (its executable is unreadable), since entries could then be stale.
    pub fn open(directory: &Path, file_name: &'static str) -> Option<AnalysisCache> {
        let binary = binary_fingerprint()?;
        let mut cache = AnalysisCache {
            directory: directory.to_path_buf(),
            file_name,
            binary,
            stored: Vec::new(),
            entries: HashMap::new(),
        };
        if let Ok(stored) = std::fs::read(directory.join(file_name)) {
            if let Some(entries) = parse_entries(&stored, binary) {
                cache.entries = entries;
                cache.stored = stored;
            }
        }
        Some(cache)
    }

    /// The key of a file's analysis: its text, where it sits (module and path as shown), and its settings.
    pub fn key(&self, settings: &Settings, module: &ModuleInfo, display: &str, text: &str) -> u128 {
        let mut hasher = Xxh3::new();
        settings.fingerprint(&mut hasher);
        for part in [module.name.as_str(), display, text] {
            hasher.write_usize(part.len());
            hasher.write(part.as_bytes());
        }
        hasher.write_u8(u8::from(module.is_package));
        hasher.digest128()
    }

    /// A key for what depends on more than a file: `key` (the file's) with what `more` hashes.
    pub fn derived_key(key: u128, more: impl FnOnce(&mut Xxh3)) -> u128 {
        let mut hasher = Xxh3::new();
        hasher.write_u128(key);
        more(&mut hasher);
        hasher.digest128()
    }

    /// The stored analysis of `path` if its key is `key`, with the entry that keeps it for the next version.
    pub fn lookup<T: DeserializeOwned>(&self, path: &Path, key: u128) -> Option<(T, Entry)> {
        let (stored_key, range) = self.entries.get(path)?;
        if *stored_key != key {
            return None;
        }
        let analysis = postcard::from_bytes(&self.stored[range.clone()]).ok()?;
        let entry = Entry { path: path.to_path_buf(), key, analysis: StoredAnalysis::Unchanged(range.clone()) };
        Some((analysis, entry))
    }

    /// The stored entry of `path`, whatever its key: kept as it is when this run did not analyse the file's text on
    /// disk (standard input stood in for it).
    pub fn keep(&self, path: &Path) -> Option<Entry> {
        let (key, range) = self.entries.get(path)?;
        Some(Entry { path: path.to_path_buf(), key: *key, analysis: StoredAnalysis::Unchanged(range.clone()) })
    }

    /// Replaces the cache with `entries` (a run's files), unless they are what it holds already.
    pub fn save(&self, entries: &[Entry]) -> Result<(), String> {
        let unchanged = entries.len() == self.entries.len()
            && entries.iter().all(|entry| {
                matches!(entry.analysis, StoredAnalysis::Unchanged(_))
                    && self.entries.get(&entry.path).is_some_and(|(key, _)| *key == entry.key)
            });
        if unchanged {
            return Ok(());
        }
        let failed = |error: std::io::Error| format!("cannot write the cache in {}: {error}", self.directory.display());
        std::fs::create_dir_all(&self.directory).map_err(failed)?;
        let ignore = self.directory.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(&ignore, "# Written by asynclint: its check cache, never to be committed.\n*\n")
                .map_err(failed)?;
        }
        let mut bytes = Vec::with_capacity(self.stored.len().max(1 << 16));
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.binary.to_le_bytes());
        // Paths are stored as UTF-8; a file whose path is not is analysed afresh every run.
        let storable: Vec<(&Entry, &str)> =
            entries.iter().filter_map(|entry| entry.path.to_str().map(|path| (entry, path))).collect();
        bytes.extend_from_slice(&(storable.len() as u64).to_le_bytes());
        for (entry, path) in storable {
            let path = path.as_bytes();
            let analysis = match &entry.analysis {
                StoredAnalysis::Unchanged(range) => &self.stored[range.clone()],
                StoredAnalysis::Fresh(bytes) => bytes.as_slice(),
            };
            bytes.extend_from_slice(&(path.len() as u64).to_le_bytes());
            bytes.extend_from_slice(path);
            bytes.extend_from_slice(&entry.key.to_le_bytes());
            bytes.extend_from_slice(&(analysis.len() as u64).to_le_bytes());
            bytes.extend_from_slice(analysis);
        }
        let mut temporary = tempfile::NamedTempFile::new_in(&self.directory).map_err(failed)?;
        std::io::Write::write_all(&mut temporary, &bytes).map_err(failed)?;
        // A temporary file is private to its owner; the cache is as readable as the project's other files.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            temporary.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(failed)?;
        }
        temporary.persist(self.directory.join(self.file_name)).map_err(|error| failed(error.error))?;
        Ok(())
    }
}

impl Entry {
    /// The entry for a file analysed in this run; None if the analysis cannot be stored.
    pub fn fresh(path: &Path, key: u128, analysis: &impl Serialize) -> Option<Entry> {
        let bytes = postcard::to_allocvec(analysis).ok()?;
        Some(Entry { path: path.to_path_buf(), key, analysis: StoredAnalysis::Fresh(bytes) })
    }
}

/// The version of asynclint and when its executable was built: a rebuilt development binary may analyse differently
/// under the same version number.
fn binary_fingerprint() -> Option<u128> {
    let executable = std::fs::metadata(std::env::current_exe().ok()?).ok()?;
    let built = executable.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    let mut hasher = Xxh3::new();
    hasher.write(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.write_u64(executable.len());
    hasher.write_u128(built.as_nanos());
    Some(hasher.digest128())
}

/// Reads the entry table of a cache file, or None if it is not one this build wrote, or is damaged.
fn parse_entries(stored: &[u8], binary: u128) -> Option<HashMap<PathBuf, (u128, Range<usize>)>> {
    let mut reader = Reader { bytes: stored, position: 0 };
    if reader.take(MAGIC.len())? != MAGIC || reader.u128()? != binary {
        return None;
    }
    let count = reader.u64()?;
    let mut entries = HashMap::new();
    for _ in 0..count {
        let length = usize::try_from(reader.u64()?).ok()?;
        let path = PathBuf::from(std::str::from_utf8(reader.take(length)?).ok()?);
        let key = reader.u128()?;
        let length = usize::try_from(reader.u64()?).ok()?;
        let start = reader.position;
        reader.take(length)?;
        entries.insert(path, (key, start..reader.position));
    }
    (reader.position == stored.len()).then_some(entries)
}

/// Bounds-checked little-endian reads.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, length: usize) -> Option<&'a [u8]> {
        let end = self.position.checked_add(length)?;
        let slice = self.bytes.get(self.position..end)?;
        self.position = end;
        Some(slice)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::check::{analyze, FileAnalysis};
    use crate::core::document::Document;

    fn analysis_of(text: &str, module: &ModuleInfo) -> FileAnalysis {
        analyze(&Document::new("app.py", text), module, &Settings::default())
    }

    #[test]
    fn an_entry_reads_back_as_written_under_its_key_only() {
        let directory = tempfile::tempdir().unwrap();
        let module = ModuleInfo { name: "app".to_owned(), is_package: false };
        let text = "import time\n\n\nasync def main():\n    time.sleep(1)\n    helper()\n\n\ndef helper():\n    pass\n";
        let analysis = analysis_of(text, &module);
        assert!(!analysis.local_diagnostics.is_empty() && !analysis.summary.functions.is_empty());
        let path = directory.path().join("app.py");
        let cache = AnalysisCache::open(directory.path(), CHECK_FILE).unwrap();
        let key = cache.key(&Settings::default(), &module, "app.py", text);
        cache.save(&[Entry::fresh(&path, key, &analysis).unwrap()]).unwrap();

        let reopened = AnalysisCache::open(directory.path(), CHECK_FILE).unwrap();
        let (stored, _) = reopened.lookup::<FileAnalysis>(&path, key).expect("a hit");
        assert_eq!(stored, analysis);
        let edited = reopened.key(&Settings::default(), &module, "app.py", &text.replace("(1)", "(2)"));
        assert!(reopened.lookup::<FileAnalysis>(&path, edited).is_none());
        let package = ModuleInfo { is_package: true, ..module.clone() };
        assert_ne!(reopened.key(&Settings::default(), &package, "app.py", text), key);
        assert!(reopened.lookup::<FileAnalysis>(&directory.path().join("other.py"), key).is_none());
    }

    #[test]
    fn a_cache_written_by_another_build_is_empty() {
        let directory = tempfile::tempdir().unwrap();
        let cache = AnalysisCache::open(directory.path(), CHECK_FILE).unwrap();
        let module = ModuleInfo::default();
        let key = cache.key(&Settings::default(), &module, "m.py", "x = 1\n");
        let path = directory.path().join("m.py");
        cache.save(&[Entry::fresh(&path, key, &analysis_of("x = 1\n", &module)).unwrap()]).unwrap();
        let mut bytes = std::fs::read(directory.path().join(CHECK_FILE)).unwrap();
        bytes[MAGIC.len()] ^= 1;
        std::fs::write(directory.path().join(CHECK_FILE), bytes).unwrap();
        assert!(AnalysisCache::open(directory.path(), CHECK_FILE)
            .unwrap()
            .lookup::<FileAnalysis>(&path, key)
            .is_none());
    }
}
