//! The on-disk cache: what one parse of a file yields, kept between runs and keyed by a hash of everything it depends
//! on, so that a run parses only the files that changed. `check` keeps each file's summary and index-free findings;
//! the language server keeps the summaries it indexes a workspace with.
//!
//! One file per cache directory and use holds every entry: a header naming the asynclint binary that wrote it, then per
//! project file its path, its key, its stamp key and its analysis (postcard). Anything unreadable, truncated or written
//! by another build counts as an empty cache; the file is replaced atomically, so a crash never leaves half of one.
//!
//! A file's key hashes its text; its stamp key hashes its metadata instead (size, times, inode), so that an unchanged
//! file is known without reading it. The run file holds the finished result of `check`'s last run, keyed by every
//! file's stamp: a run where nothing changed reads nothing else.

use std::collections::HashMap;
use std::hash::Hasher;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use xxhash_rust::xxh3::Xxh3;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::core::check::ModuleInfo;
use crate::core::settings::Settings;

/// Identifies the layout; a new layout gets a new tag, and old files are then ignored.
const MAGIC: &[u8; 8] = b"ALCACHE2";
/// The cache file of `check` (a `FileAnalysis` per file).
pub const CHECK_FILE: &str = "analysis.bin";
/// The cache file of `check`'s findings for files whose findings depend on other files (all their diagnostics per
/// file, keyed by the file's key and the index's answers for it).
pub const PROJECT_FILE: &str = "project.bin";
/// The cache file of the language server's workspace index (a `ModuleSummary` per file).
pub const SERVER_FILE: &str = "summaries.bin";
/// The cache file of `check`'s last run: its key and its finished result.
pub const RUN_FILE: &str = "run.bin";
/// How long before a run a file must have been modified for its metadata to vouch for its text. A file modified in
/// the same tick of the file system's clock as it was read may be modified again without its size or times changing;
/// so a recently modified file is hashed, now and at the next run, as git does with "racily clean" files. Two seconds
/// covers the coarsest clocks (FAT's).
const RACY_WINDOW: Duration = Duration::from_secs(2);
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
    entries: HashMap<PathBuf, StoredEntry>,
}

/// Where a file's entry lies in the cache file as read.
struct StoredEntry {
    key: u128,
    /// [`NO_STAMP`] when the file's metadata could not vouch for its text.
    stamp_key: u128,
    analysis: Range<usize>,
}

/// The stamp key of an entry whose file was read and hashed.
const NO_STAMP: u128 = 0;

/// One file's entry for the cache's next version.
pub struct Entry {
    path: PathBuf,
    key: u128,
    stamp_key: Option<u128>,
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
        file_key(settings, module, display, text.as_bytes())
    }

    /// The key of a file's analysis by its metadata instead of its text; None when the metadata cannot vouch for the
    /// text (see [`RACY_WINDOW`]).
    pub fn stamp_key(
        settings: &Settings,
        module: &ModuleInfo,
        display: &str,
        metadata: &std::fs::Metadata,
        run_started: SystemTime,
    ) -> Option<u128> {
        let stamp = file_stamp(metadata, run_started)?;
        Some(file_key(settings, module, display, &stamp))
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
        let stored = self.entries.get(path).filter(|stored| stored.key == key)?;
        Some((self.decode(stored)?, self.unchanged(path, stored)))
    }

    /// The stored analysis of `path` if its stamp key is `stamp_key` (the file is unchanged, going by its metadata),
    /// with the key of the text it was made from and the entry that keeps it for the next version.
    pub fn lookup_stamped<T: DeserializeOwned>(&self, path: &Path, stamp_key: u128) -> Option<(T, u128, Entry)> {
        let stored = self.entries.get(path).filter(|stored| stored.stamp_key == stamp_key && stamp_key != NO_STAMP)?;
        Some((self.decode(stored)?, stored.key, self.unchanged(path, stored)))
    }

    fn decode<T: DeserializeOwned>(&self, stored: &StoredEntry) -> Option<T> {
        postcard::from_bytes(&self.stored[stored.analysis.clone()]).ok()
    }

    fn unchanged(&self, path: &Path, stored: &StoredEntry) -> Entry {
        let stamp_key = Some(stored.stamp_key).filter(|&stamp_key| stamp_key != NO_STAMP);
        let analysis = StoredAnalysis::Unchanged(stored.analysis.clone());
        Entry { path: path.to_path_buf(), key: stored.key, stamp_key, analysis }
    }

    /// The stored entry of `path`, whatever its key: kept as it is when this run did not analyse the file's text on
    /// disk (standard input stood in for it).
    pub fn keep(&self, path: &Path) -> Option<Entry> {
        Some(self.unchanged(path, self.entries.get(path)?))
    }

    /// Replaces the cache with `entries` (a run's files), unless they are what it holds already.
    pub fn save(&self, entries: &[Entry]) -> Result<(), String> {
        let unchanged = entries.len() == self.entries.len()
            && entries.iter().all(|entry| {
                matches!(entry.analysis, StoredAnalysis::Unchanged(_))
                    && self.entries.get(&entry.path).is_some_and(|stored| {
                        stored.key == entry.key && stored.stamp_key == entry.stamp_key.unwrap_or(NO_STAMP)
                    })
            });
        if unchanged {
            return Ok(());
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
            bytes.extend_from_slice(&entry.stamp_key.unwrap_or(NO_STAMP).to_le_bytes());
            bytes.extend_from_slice(&(analysis.len() as u64).to_le_bytes());
            bytes.extend_from_slice(analysis);
        }
        replace_file(&self.directory, self.file_name, &bytes)
    }
}

impl Entry {
    /// The entry for a file analysed in this run; None if the analysis cannot be stored.
    pub fn fresh(path: &Path, key: u128, analysis: &impl Serialize) -> Option<Entry> {
        let bytes = postcard::to_allocvec(analysis).ok()?;
        Some(Entry { path: path.to_path_buf(), key, stamp_key: None, analysis: StoredAnalysis::Fresh(bytes) })
    }

    /// The entry with the stamp key of the file's metadata as this run saw it, for the next run to find it by.
    pub fn stamped(self, stamp_key: Option<u128>) -> Entry {
        Entry { stamp_key, ..self }
    }
}

/// The finished result of the last run in `directory`, if its key is `key` and this build wrote it.
pub fn load_run<T: DeserializeOwned>(directory: &Path, key: u128) -> Option<T> {
    let stored = std::fs::read(directory.join(RUN_FILE)).ok()?;
    let mut reader = Reader { bytes: &stored, position: 0 };
    if reader.take(MAGIC.len())? != MAGIC || reader.u128()? != binary_fingerprint()? || reader.u128()? != key {
        return None;
    }
    postcard::from_bytes(&stored[reader.position..]).ok()
}

/// Replaces the run file in `directory` with `result` under `key`.
pub fn save_run(directory: &Path, key: u128, result: &impl Serialize) -> Result<(), String> {
    let Some(binary) = binary_fingerprint() else { return Ok(()) };
    let mut bytes = Vec::with_capacity(1 << 12);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&binary.to_le_bytes());
    bytes.extend_from_slice(&key.to_le_bytes());
    let encoded = postcard::to_allocvec(result).map_err(|error| format!("cannot encode the run cache: {error}"))?;
    bytes.extend_from_slice(&encoded);
    replace_file(directory, RUN_FILE, &bytes)
}

/// Writes `bytes` as `directory/file_name` through a temporary file, creating the directory (with a `.gitignore`
/// that keeps it out of version control) when needed.
pub(crate) fn replace_file(directory: &Path, file_name: &str, bytes: &[u8]) -> Result<(), String> {
    let failed = |error: std::io::Error| format!("cannot write the cache in {}: {error}", directory.display());
    std::fs::create_dir_all(directory).map_err(failed)?;
    let ignore = directory.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(&ignore, "# Written by asynclint: its check cache, never to be committed.\n*\n")
            .map_err(failed)?;
    }
    let mut temporary = tempfile::NamedTempFile::new_in(directory).map_err(failed)?;
    std::io::Write::write_all(&mut temporary, bytes).map_err(failed)?;
    // A temporary file is private to its owner; the cache is as readable as the project's other files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temporary.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(failed)?;
    }
    temporary.persist(directory.join(file_name)).map_err(|error| failed(error.error))?;
    Ok(())
}

/// The key of a file's analysis from `identity` (its text, or the stamp standing in for it), where it sits and its
/// settings.
pub fn file_key(settings: &Settings, module: &ModuleInfo, display: &str, identity: &[u8]) -> u128 {
    let mut hasher = Xxh3::new();
    settings.fingerprint(&mut hasher);
    for part in [module.name.as_bytes(), display.as_bytes(), identity] {
        hasher.write_usize(part.len());
        hasher.write(part);
    }
    hasher.write_u8(u8::from(module.is_package));
    hasher.write_u8(u8::from(module.notebook));
    hasher.digest128()
}

/// What a file's metadata says of its text: size, modification and change times, device and inode (a file replaced
/// by a rename is a new inode). None when the file was modified within [`RACY_WINDOW`] of the run's start, or later.
pub(crate) fn file_stamp(metadata: &std::fs::Metadata, run_started: SystemTime) -> Option<[u8; 16]> {
    let modified = metadata.modified().ok()?;
    if run_started.duration_since(modified).ok()? < RACY_WINDOW {
        return None;
    }
    let mut hasher = Xxh3::new();
    // A tag, so that a stamp never hashes like a text.
    hasher.write(b"stamp");
    hasher.write_u64(metadata.len());
    hasher.write_u128(modified.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        hasher.write_i64(metadata.ctime());
        hasher.write_i64(metadata.ctime_nsec());
        hasher.write_u64(metadata.dev());
        hasher.write_u64(metadata.ino());
    }
    Some(hasher.digest128().to_le_bytes())
}

/// The version of asynclint and when its executable was built: a rebuilt development binary may analyse differently
/// under the same version number.
pub(crate) fn binary_fingerprint() -> Option<u128> {
    let executable = std::fs::metadata(std::env::current_exe().ok()?).ok()?;
    let built = executable.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    let mut hasher = Xxh3::new();
    hasher.write(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.write_u64(executable.len());
    hasher.write_u128(built.as_nanos());
    Some(hasher.digest128())
}

/// Reads the entry table of a cache file, or None if it is not one this build wrote, or is damaged.
fn parse_entries(stored: &[u8], binary: u128) -> Option<HashMap<PathBuf, StoredEntry>> {
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
        let stamp_key = reader.u128()?;
        let length = usize::try_from(reader.u64()?).ok()?;
        let start = reader.position;
        reader.take(length)?;
        entries.insert(path, StoredEntry { key, stamp_key, analysis: start..reader.position });
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
        let module = ModuleInfo { name: "app".to_owned(), ..ModuleInfo::default() };
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
        let notebook = ModuleInfo { notebook: true, ..module.clone() };
        assert_ne!(reopened.key(&Settings::default(), &notebook, "app.py", text), key);
        assert!(reopened.lookup::<FileAnalysis>(&directory.path().join("other.py"), key).is_none());
    }

    #[test]
    fn metadata_vouches_for_a_text_only_when_the_file_is_not_freshly_modified() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("app.py");
        std::fs::write(&path, "x = 1\n").unwrap();
        let (settings, module) = (Settings::default(), ModuleInfo::default());
        let stamp = |started| {
            AnalysisCache::stamp_key(&settings, &module, "app.py", &std::fs::metadata(&path).unwrap(), started)
        };
        let now = SystemTime::now();
        assert_eq!(stamp(now), None, "modified within the racy window: hashed instead");
        let later = now + RACY_WINDOW + Duration::from_millis(10);
        let vouched = stamp(later).expect("modified well before the run");
        assert_eq!(stamp(later), Some(vouched));
        std::fs::write(&path, "x = 22\n").unwrap();
        assert_ne!(stamp(SystemTime::now() + RACY_WINDOW + Duration::from_millis(10)), Some(vouched));

        let cache = AnalysisCache::open(directory.path(), CHECK_FILE).unwrap();
        let key = cache.key(&settings, &module, "app.py", "x = 1\n");
        let analysis = analysis_of("x = 1\n", &module);
        cache.save(&[Entry::fresh(&path, key, &analysis).unwrap().stamped(Some(vouched))]).unwrap();
        let reopened = AnalysisCache::open(directory.path(), CHECK_FILE).unwrap();
        let (stored, stored_key, _) = reopened.lookup_stamped::<FileAnalysis>(&path, vouched).expect("a hit");
        assert_eq!((stored, stored_key), (analysis, key));
        assert!(reopened.lookup_stamped::<FileAnalysis>(&path, vouched ^ 1).is_none());
        assert!(reopened.lookup_stamped::<FileAnalysis>(&path, NO_STAMP).is_none());
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
