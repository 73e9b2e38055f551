//! The server's state and handlers: open documents (see `documents`), the project index built in the background,
//! settings from `pyproject.toml` and the editor, diagnostics and code actions.
//!
//! Handlers only update the state, under one short lock, and hand the work that parses or checks to the blocking
//! pool: one analysis per document at a time, of its newest version only, so a burst of keystrokes costs one
//! analysis and a huge file delays no other file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use serde::Deserialize;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::{
    self as lsp, CodeAction, CodeActionKind, CodeActionOptions, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, CodeActionResponse, DiagnosticOptions, DiagnosticServerCapabilities,
    DidChangeConfigurationParams, DidChangeTextDocumentParams, DidChangeWatchedFilesParams,
    DidChangeWatchedFilesRegistrationOptions, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    DocumentDiagnosticParams, DocumentDiagnosticReport, DocumentDiagnosticReportResult, FileChangeType,
    FileSystemWatcher, FullDocumentDiagnosticReport, GlobPattern, HoverParams, HoverProviderCapability,
    InitializeParams, InitializeResult, InitializedParams, MessageType, NumberOrString, PositionEncodingKind,
    Registration, RelatedFullDocumentDiagnosticReport, RelatedUnchangedDocumentDiagnosticReport, ServerCapabilities,
    ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, UnchangedDocumentDiagnosticReport, Uri,
};
use tower_lsp_server::{Client, LanguageServer};

use crate::cache::{self, AnalysisCache};
use crate::core::catalogue::BlockingSpec;
use crate::core::check::{build_model, check_model, check_range, fix_all, summarize_document, FixScope, ModuleInfo};
use crate::core::diagnostic::{Applicability, Diagnostic};
use crate::core::document::Document;

use crate::core::index::ProjectIndex;
use crate::core::positions::Encoding;
use crate::core::rules;
use crate::core::settings::{Config, Settings};
use crate::core::summary::{summarize, ModuleSummary, Work};
use crate::workspace::{self, Exclusions, PackageCache};

use super::convert;
use super::documents::{self, OpenDocument};

/// Files at least this large are not analysed: the editor stays responsive and the user is told why.
const MAX_ANALYSED_BYTES: usize = 5 * 1024 * 1024;
/// How long typing must pause before an edit that changed what a file offers other files reaches the project index.
/// Refreshing the index re-resolves every call edge of the project (100 to 160 ms for Home Assistant's 8,805 files),
/// far too slow for every keystroke; the file being typed in is checked at once against the index as it was.
const INDEX_REFRESH_DELAY: std::time::Duration = std::time::Duration::from_millis(300);

/// Workspace files summarised between two progress reports.
const INDEX_CHUNK: usize = 256;

/// Settings the editor sends in `initializationOptions` or `workspace/didChangeConfiguration`. They apply on top of
/// the project's `pyproject.toml`: `select` replaces, `ignore`, `severity` and `extraBlockingCalls` add.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct EditorSettings {
    enable: Option<bool>,
    select: Option<Vec<String>>,
    ignore: Vec<String>,
    severity: BTreeMap<String, String>,
    extra_blocking_calls: Vec<BlockingSpec>,
}

impl EditorSettings {
    /// Accepts both `{ "asynclint": { ... } }` and the bare table. A key whose value has the wrong shape is left out
    /// (the others still apply), and a message names it. None when the settings are not a table at all.
    fn from_json(value: &serde_json::Value) -> Option<(EditorSettings, Option<String>)> {
        let table = value.get("asynclint").unwrap_or(value).as_object()?;
        let mut valid = table.clone();
        let mut problems = Vec::new();
        for (key, value) in table {
            let alone = serde_json::Value::Object(serde_json::Map::from_iter([(key.clone(), value.clone())]));
            if let Err(error) = serde_json::from_value::<EditorSettings>(alone) {
                problems.push(format!("`{key}` ({error})"));
                valid.remove(key);
            }
        }
        let settings = serde_json::from_value(serde_json::Value::Object(valid)).unwrap_or_default();
        let problem = (!problems.is_empty())
            .then(|| format!("asynclint: ignoring editor settings of the wrong type: {}", problems.join(", ")));
        Some((settings, problem))
    }
}

struct State {
    documents: HashMap<Uri, OpenDocument>,
    /// One index per project root, each its own module namespace: two workspace folders with an `app` package each
    /// must not resolve each other's modules. Shared with the work done off the lock; an update copies an index only
    /// while such work holds it.
    indexes: HashMap<PathBuf, Arc<ProjectIndex>>,
    /// The project root each indexed file's summary went to.
    namespace_of_file: HashMap<String, PathBuf>,
    /// What each module exports, as far as other files care: a change re-checks the open documents.
    shapes: HashMap<String, u64>,
    /// Open documents edited since the index last took their summary: they are summarised once typing pauses.
    edited: HashSet<Uri>,
    /// Bumped by each edit: a refresh timer only acts if no later edit came.
    edit_generation: u64,
    /// Bumped whenever the index or the settings change what any document's findings may be: each open document is
    /// analysed again once for the new generation.
    generation: u64,
    /// Numbers the openings of documents.
    openings: u64,
    settings: Arc<Settings>,
    editor: EditorSettings,
    encoding: Encoding,
    roots: Vec<PathBuf>,
    /// The roots came from the files opened, the client having named none (`rootUri: null`).
    roots_inferred: bool,
    progress_supported: bool,
    /// The client resolves code actions lazily (`codeAction/resolve` of their edit): fix-all is then offered on every
    /// request and computed only when chosen.
    resolve_supported: bool,
    /// The client pulls diagnostics (`textDocument/diagnostic`): they are not pushed to it as well, which would show
    /// each finding twice.
    pull: bool,
    /// The client takes `workspace/diagnostic/refresh`, the request to pull again after the index changed.
    refresh_supported: bool,
    /// The client lets the server register file watchers (`workspace/didChangeWatchedFiles`) after `initialized`.
    watch_supported: bool,
    /// The newest generation a `workspace/diagnostic/refresh` was sent for: one refresh covers every document.
    refreshed: u64,
    /// Where the workspace index keeps file summaries between sessions; None without a workspace folder.
    cache_directory: Option<PathBuf>,
    /// Counts the workspace indexings begun. One that finds a newer one begun leaves the storing to it: it read the
    /// files, and the settings, later.
    indexings: u64,
    /// Counts the files brought into the index one at a time from disk (changed there, or closed in the editor).
    reindexings: u64,
    /// Each such file, with the count of its last reindexing: a workspace indexing that began before may have read
    /// it before it changed, and must not store what it read.
    reindexed: HashMap<String, u64>,
}

impl State {
    fn index_mut(&mut self, namespace: &Path) -> &mut ProjectIndex {
        Arc::make_mut(self.indexes.entry(namespace.to_path_buf()).or_default())
    }

    /// The summary the index holds for a file, if any.
    fn indexed_summary(&self, path: &str) -> Option<&ModuleSummary> {
        let namespace = self.namespace_of_file.get(path)?;
        self.indexes.get(namespace)?.summary(path)
    }

    /// Takes a file out of the index it is in.
    fn remove_from_index(&mut self, path: &str) {
        self.shapes.remove(path);
        if let Some(namespace) = self.namespace_of_file.remove(path) {
            let index = self.index_mut(&namespace);
            index.remove(path);
            index.refresh();
        }
    }

    fn refresh_indexes(&mut self) {
        for index in self.indexes.values_mut() {
            Arc::make_mut(index).refresh();
        }
    }

    fn enabled(&self) -> bool {
        self.editor.enable.unwrap_or(true)
    }

    /// The project settings: the config file found from the first workspace folder, then the editor's settings.
    fn rebuild_settings(&mut self) -> Option<String> {
        let start = self.roots.first().cloned().or_else(|| std::env::current_dir().ok()).unwrap_or_default();
        let (mut config, config_file, mut problem) = match workspace::load_config(None, &start) {
            Ok(loaded) => (loaded.config, loaded.path, None),
            Err(error) => (Config::default(), None, Some(error)),
        };
        self.cache_directory =
            self.roots.first().map(|root| cache::directory(root, config.cache_dir.as_deref(), config_file.as_deref()));
        if let Some(select) = &self.editor.select {
            config.select = Some(select.clone());
        }
        config.ignore.extend(self.editor.ignore.iter().cloned());
        config.severity.extend(self.editor.severity.clone());
        config.extra_blocking_calls.extend(self.editor.extra_blocking_calls.iter().cloned());
        self.settings = Arc::new(match Settings::from_config(&config) {
            Ok(settings) => settings,
            Err(error) => {
                problem = Some(format!("asynclint settings: {error}"));
                Settings::default()
            }
        });
        problem
    }

    /// The settings for one open file: `per-file-ignores` apply by its path relative to its workspace folder.
    fn settings_for(&self, path: &str) -> std::borrow::Cow<'_, Settings> {
        let path = Path::new(path);
        let root = self.roots.iter().filter(|root| path.starts_with(root)).max_by_key(|root| root.as_os_str().len());
        match root.and_then(|root| path.strip_prefix(root).ok()) {
            Some(relative) => self.settings.for_file(relative),
            None => std::borrow::Cow::Borrowed(&*self.settings),
        }
    }

    /// The project root a file is named in (its namespace, see [`PackageCache::namespace_of`]) and its module.
    fn place_of(&self, path: &Path) -> (PathBuf, ModuleInfo) {
        let root = self
            .roots
            .iter()
            .filter(|root| path.starts_with(root))
            .max_by_key(|root| root.as_os_str().len())
            .cloned()
            .unwrap_or_else(|| workspace::project_root(path));
        PackageCache::default().locate(path, &root)
    }

    /// Puts a summary in its project's index and remembers its shape; the caller refreshes the index once for a
    /// batch.
    fn store_summary(&mut self, namespace: &Path, summary: ModuleSummary) {
        self.shapes.insert(summary.path.clone(), shape_of(&summary));
        self.move_to_namespace(&summary.path, namespace);
        self.index_mut(namespace).upsert(summary);
    }

    /// Notes which index a file's summary goes to, taking it out of another one it was in.
    fn move_to_namespace(&mut self, path: &str, namespace: &Path) {
        let before = self.namespace_of_file.insert(path.to_owned(), namespace.to_path_buf());
        if let Some(before) = before.filter(|before| before != namespace) {
            let index = self.index_mut(&before);
            index.remove(path);
            index.refresh();
        }
    }

    /// Records a module's summary at once; true when every open document needs analysing again (for a new
    /// generation): what the module exports changed (the index is refreshed), or only its positions, which findings
    /// may show as related locations (the index's chains read positions from the summaries, so it needs no refresh).
    /// The module's own document counts too: a chain through one of its own functions was read from the summary the
    /// index held before.
    fn record_summary(&mut self, namespace: &Path, summary: ModuleSummary) -> bool {
        let shape = shape_of(&summary);
        let changed = self.shapes.insert(summary.path.clone(), shape) != Some(shape);
        let moved = self.indexed_summary(&summary.path) != Some(&summary);
        let path = summary.path.clone();
        self.move_to_namespace(&path, namespace);
        self.index_mut(namespace).upsert(summary);
        if changed {
            self.index_mut(namespace).refresh();
        }
        if changed || moved {
            self.generation += 1;
        }
        changed || moved
    }

    /// What an analysis or a code action of `uri` needs from the state, taken under the lock.
    fn snapshot(&self, uri: &Uri) -> Option<Snapshot> {
        let open = self.documents.get(uri)?;
        let settings = match self.settings_for(&open.path) {
            std::borrow::Cow::Borrowed(_) => self.settings.clone(),
            std::borrow::Cow::Owned(settings) => Arc::new(settings),
        };
        Some(Snapshot {
            id: open.id,
            version: open.version,
            path: open.path.clone(),
            module: open.module.clone(),
            namespace: open.namespace.clone(),
            index: self.indexes.get(&open.namespace).cloned().unwrap_or_default(),
            settings,
            encoding: self.encoding,
            active: self.enabled() && !open.too_large,
            generation: self.generation,
        })
    }

    /// What a pull of `uri` would answer now: the opening, the version and the generation (a change to the index or the
    /// settings) decide the diagnostics, so the same three give the same report.
    fn result_id(&self, uri: &Uri) -> Option<String> {
        let open = self.documents.get(uri)?;
        Some(result_id(open.id, open.version, self.generation))
    }

    /// Marks every open document for analysis against a changed index or settings, and returns them.
    fn invalidate(&mut self) -> Vec<Uri> {
        self.generation += 1;
        self.documents.keys().cloned().collect()
    }

    /// Takes the summaries of documents edited since the last pause in typing into the index. A summary whose shape
    /// is unchanged (positions only) goes in as it is; if some shape changed, the index is refreshed. Either way every
    /// open document is returned, for a new generation, to be analysed again for its related locations: the edited
    /// documents too, whose own chains (and each other's) were read from the summaries the index held before. A new
    /// generation, rather than forgetting the last analysis, also makes an analysis still running against the old
    /// index count as outdated when it finishes.
    fn take_summaries(&mut self, summaries: Vec<(PathBuf, ModuleSummary)>) -> Vec<Uri> {
        let mut reshaped = false;
        let mut moved = false;
        for (namespace, summary) in summaries {
            if self.shapes.get(&summary.path) == Some(&shape_of(&summary))
                && self.namespace_of_file.get(&summary.path) == Some(&namespace)
            {
                // Positions only: the index needs no refresh (its chains read sites from the summaries), but findings
                // that show this file's positions as related locations must be published again.
                moved |= self.indexed_summary(&summary.path) != Some(&summary);
                self.index_mut(&namespace).upsert(summary);
            } else {
                self.store_summary(&namespace, summary);
                reshaped = true;
            }
        }
        if reshaped {
            self.refresh_indexes();
        } else if !moved {
            return Vec::new();
        }
        self.invalidate()
    }
}

fn result_id(opening: u64, version: i32, generation: u64) -> String {
    format!("{opening}.{version}.{generation}")
}

/// A document's context for work done off the lock.
#[derive(Clone)]
struct Snapshot {
    id: u64,
    version: i32,
    path: String,
    module: ModuleInfo,
    /// The project root whose index `index` is.
    namespace: PathBuf,
    index: Arc<ProjectIndex>,
    settings: Arc<Settings>,
    encoding: Encoding,
    /// Analysis is enabled and the file is not too large.
    active: bool,
    generation: u64,
}

/// Runs `work` on the parsed copy of `uri`, brought up to date with every change received so far; None when the
/// document is not open or not analysed. Called on the blocking pool: it may wait for an analysis of the document.
fn with_current_document<T>(
    state: &Mutex<State>,
    uri: &Uri,
    work: impl FnOnce(&Document, &Snapshot) -> T,
) -> Option<T> {
    let (id, parsed) = guarded(state, "a document", |state| state.documents.get(uri).map(parsed_copy))??;
    let mut parsed = documents::lock(&parsed);
    let (changes, snapshot) = guarded(state, "a document", |state| {
        // A file too large to analyse (or with analysis off) is not parsed either: its changes stay queued. A document
        // closed and opened again since the copy was taken has a copy of its own.
        let snapshot = state.snapshot(uri).filter(|snapshot| snapshot.active && snapshot.id == id)?;
        let changes = state.documents.get_mut(uri)?.take_pending(&parsed);
        Some((changes, snapshot))
    })??;
    let document = parsed.catch_up(&snapshot.path, changes)?;
    catch("a document", || work(document, &snapshot))
}

/// An opening of a document, and its parsed copy.
fn parsed_copy(open: &OpenDocument) -> (u64, Arc<Mutex<documents::Parsed>>) {
    (open.id, open.parsed())
}

/// What analysing one document gives: the diagnostics to publish, and whether every open document (this one included)
/// needs analysing again, its summary having changed the index.
#[derive(Default)]
struct Analysed {
    publish: Option<Publish>,
    index_changed: bool,
}

/// The diagnostics of one analysis, and which it was: of the opening `id`, for (version, generation) `analysed`.
struct Publish {
    uri: Uri,
    id: u64,
    analysed: (i32, u64),
    diagnostics: Vec<lsp::Diagnostic>,
}

/// The way to the client for diagnostics: each publish is decided on (is it still the newest?) and sent under one
/// lock, which a closing document takes too, so that they reach the client in the order they were decided on. An
/// analysis that found its document current, but got to publishing after a newer analysis or after the document's
/// close, would otherwise have the last word.
#[derive(Clone)]
struct Outbox {
    client: Client,
    order: Arc<tokio::sync::Mutex<()>>,
}

impl Outbox {
    /// Publishes an analysis' diagnostics unless the document was closed, or a newer analysis of it has finished. A
    /// client that pulls gets none: it is asked to pull again instead when the analysis was for a newer generation
    /// than its last pull of the document (a keystroke's new version it pulls for by itself).
    async fn publish(&self, state: &Mutex<State>, publish: Publish) {
        let order = self.order.lock().await;
        let delivery = guarded(state, "publishing", |state| {
            let open = state.documents.get(&publish.uri)?;
            if open.id != publish.id || open.analysed != Some(publish.analysed) {
                return None;
            }
            if !state.pull {
                return Some(Delivery::Push);
            }
            let generation = publish.analysed.1;
            let stale = open.pulled.is_some_and(|pulled| pulled < generation);
            if stale && state.refresh_supported && state.refreshed < generation {
                state.refreshed = generation;
                return Some(Delivery::Refresh);
            }
            None
        });
        match delivery.flatten() {
            Some(Delivery::Push) => {
                let version = Some(publish.analysed.0);
                self.client.publish_diagnostics(publish.uri, publish.diagnostics, version).await;
            }
            Some(Delivery::Refresh) => {
                // The client answers once it has pulled: the next publish need not wait for that.
                drop(order);
                if let Err(error) = self.client.workspace_diagnostic_refresh().await {
                    eprintln!("asynclint: the client refused to pull diagnostics again: {error}");
                }
            }
            None => {}
        }
    }
}

/// How an analysis reaches the client.
enum Delivery {
    Push,
    Refresh,
}

/// Analyses the newest version of `uri`, unless it was analysed for this generation already; drops the result if a
/// newer version arrived meanwhile (whose change has queued its own analysis).
fn analyse(state: &Mutex<State>, uri: &Uri) -> Analysed {
    let Some(Some((id, parsed))) = guarded(state, "analysis", |state| state.documents.get(uri).map(parsed_copy)) else {
        return Analysed::default();
    };
    let mut parsed = documents::lock(&parsed);
    let job = guarded(state, "analysis", |state| {
        // A document closed and opened again since the copy was taken has a copy of its own, and its own analysis.
        let snapshot = state.snapshot(uri).filter(|snapshot| snapshot.id == id)?;
        let open = state.documents.get_mut(uri)?;
        // From here on, a change needs an analysis after this one.
        open.queued = false;
        if open.analysed == Some((snapshot.version, snapshot.generation)) {
            return None;
        }
        // A file too large to analyse keeps its changes queued: nothing parses it.
        let changes = if snapshot.active { open.take_pending(&parsed) } else { Vec::new() };
        let record = snapshot.active && std::mem::take(&mut open.record_summary);
        Some((snapshot, changes, record))
    });
    let Some(Some((snapshot, changes, record))) = job else { return Analysed::default() };
    let (diagnostics, summary) = if snapshot.active {
        if parsed.catch_up(&snapshot.path, changes).is_none() {
            return Analysed::default();
        }
        let found = catch("analysis", || {
            let settings = &snapshot.settings;
            let module = &snapshot.module;
            // Publishing needs no fixes: code actions build them when asked.
            if record {
                let document = parsed.document()?;
                let model = build_model(document, module, settings.catalogue());
                let found = check_model(document, &model, &snapshot.index, settings, FixScope::None);
                let converted = found.iter().map(|d| convert::diagnostic(document, d, snapshot.encoding)).collect();
                return Some((converted, Some(summarize(document, &model, settings.catalogue()))));
            }
            // A keystroke re-checks the units it touched: the generation stands for the index and the settings.
            let (document, found) = parsed.check(module, &snapshot.index, settings, snapshot.generation)?;
            let converted = found.iter().map(|d| convert::diagnostic(document, d, snapshot.encoding)).collect();
            Some((converted, None))
        });
        match found.flatten() {
            Some(found) => found,
            None => return Analysed::default(),
        }
    } else {
        (Vec::new(), None)
    };
    // Recorded while the parsed copy is still held: the next analysis of the document, against a newer index, must
    // not finish before this one, whose older result would then overwrite it and be published last.
    let analysed = guarded(state, "analysis", |state| {
        let open = state.documents.get_mut(uri).filter(|open| open.id == snapshot.id)?;
        if open.version != snapshot.version {
            return None;
        }
        let analysed = (snapshot.version, snapshot.generation);
        open.analysed = Some(analysed);
        // A client that pulls is answered from here; none is pushed to it.
        let diagnostics = if state.pull {
            open.found = Some(diagnostics);
            Vec::new()
        } else {
            diagnostics
        };
        let index_changed = summary.is_some_and(|summary| state.record_summary(&snapshot.namespace, summary));
        let publish = Publish { uri: uri.clone(), id: snapshot.id, analysed, diagnostics };
        Some(Analysed { publish: Some(publish), index_changed })
    });
    drop(parsed);
    analysed.flatten().unwrap_or_default()
}

/// Queues an analysis of each document, unless one is queued already (it will see the newest version), and
/// publishes what it finds.
fn schedule_analysis(state: &Arc<Mutex<State>>, outbox: &Outbox, uris: Vec<Uri>) {
    for uri in uris {
        let start = guarded(state, "analysis", |state| {
            state.documents.get_mut(&uri).is_some_and(|open| !std::mem::replace(&mut open.queued, true))
        });
        if start != Some(true) {
            continue;
        }
        let (state, outbox) = (state.clone(), outbox.clone());
        tokio::spawn(async move {
            let worker = state.clone();
            let Ok(analysed) = tokio::task::spawn_blocking(move || analyse(&worker, &uri)).await else { return };
            if let Some(publish) = analysed.publish {
                outbox.publish(&state, publish).await;
            }
            if analysed.index_changed {
                let uris = guarded(&state, "analysis", |state| state.documents.keys().cloned().collect());
                schedule_analysis(&state, &outbox, uris.unwrap_or_default());
            }
        });
    }
}

/// After a pause in typing: summarises the edited documents (on the blocking pool) and returns the documents to
/// analyse again when what they offer other files changed.
fn refresh_edited(state: &Mutex<State>, generation: u64) -> Vec<Uri> {
    let edited = guarded(state, "index refresh", |state| {
        if state.edit_generation == generation {
            std::mem::take(&mut state.edited).into_iter().collect()
        } else {
            Vec::new()
        }
    });
    let summaries: Vec<(PathBuf, ModuleSummary)> = edited
        .unwrap_or_default()
        .iter()
        .filter_map(|uri| {
            // Summarised on a copy (its trees are shared), so that the next keystroke's analysis need not wait.
            let (document, snapshot) =
                with_current_document(state, uri, |document, snapshot| (document.clone(), snapshot.clone()))?;
            catch("index refresh", || {
                (snapshot.namespace.clone(), summarize_document(&document, &snapshot.module, &snapshot.settings))
            })
        })
        .collect();
    guarded(state, "index refresh", |state| state.take_summaries(summaries)).unwrap_or_default()
}

/// Answers a pull of `uri` (on the blocking pool): the result id, and the diagnostics of the newest analysis when it
/// was of the current version against the current index, or else of an analysis made now. None when the document is
/// not open.
fn pull(state: &Mutex<State>, uri: &Uri) -> Option<(String, Vec<lsp::Diagnostic>)> {
    let answered = guarded(state, "textDocument/diagnostic", |state| {
        let generation = state.generation;
        let active = state.enabled();
        let open = state.documents.get_mut(uri)?;
        let id = result_id(open.id, open.version, generation);
        let found = if !active || open.too_large {
            Some(Vec::new())
        } else if open.analysed == Some((open.version, generation)) {
            open.found.clone()
        } else {
            None
        };
        if found.is_some() {
            open.pulled = Some(generation);
        }
        Some((id, found))
    })??;
    if let (id, Some(found)) = answered {
        return Some((id, found));
    }
    let (document, snapshot) =
        with_current_document(state, uri, |document, snapshot| (document.clone(), snapshot.clone()))?;
    let found = catch("textDocument/diagnostic", || {
        let settings = &snapshot.settings;
        let model = build_model(&document, &snapshot.module, settings.catalogue());
        let found = check_model(&document, &model, &snapshot.index, settings, FixScope::None);
        found.iter().map(|finding| convert::diagnostic(&document, finding, snapshot.encoding)).collect()
    })?;
    guarded(state, "textDocument/diagnostic", |state| {
        if let Some(open) = state.documents.get_mut(uri).filter(|open| open.id == snapshot.id) {
            open.pulled = Some(open.pulled.map_or(snapshot.generation, |pulled| pulled.max(snapshot.generation)));
        }
    });
    Some((result_id(snapshot.id, snapshot.version, snapshot.generation), found))
}

/// The hover at `position` of `uri` (on the blocking pool): the rules a `# noqa` code under it names, or the findings
/// whose range holds it. `version` is the document's version when the request came, which its position is in.
fn hover_at(state: &Mutex<State>, uri: &Uri, position: lsp::Position, version: i32) -> Result<Option<lsp::Hover>> {
    // Taken as a copy (its trees are shared), so that the next keystroke's analysis need not wait for the hover.
    let Some((document, snapshot)) =
        with_current_document(state, uri, |document, snapshot| (document.clone(), snapshot.clone()))
    else {
        return Ok(None);
    };
    if snapshot.version != version {
        return Err(Error::content_modified());
    }
    let hover = catch("textDocument/hover", || {
        let encoding = snapshot.encoding;
        let offset = convert::offset(&document, position, encoding);
        if let Some((range, code)) = crate::core::suppressions::noqa_code_at(&document, offset) {
            let named: Vec<_> = rules::ALL.iter().copied().filter(|rule| rule.is_named_by(code)).collect();
            if !named.is_empty() {
                return convert::rules_hover(&document, &named, range, encoding);
            }
        }
        let settings = &snapshot.settings;
        let model = build_model(&document, &snapshot.module, settings.catalogue());
        let mut found = check_model(&document, &model, &snapshot.index, settings, FixScope::None);
        // The cursor is on a character: the one after a finding's end is not in it, unless the finding is empty.
        found.retain(|finding| {
            let range = finding.range;
            range.start == offset || (range.start <= offset && offset < range.end)
        });
        convert::findings_hover(&document, &found, encoding)
    });
    hover.ok_or_else(Error::internal_error)
}

/// The file watchers registered with the client: Python files and notebooks, and the files config is read from.
fn watched_files_registration() -> Registration {
    let watchers = ["**/*.py", "**/*.ipynb", "**/pyproject.toml", "**/asynclint.toml"]
        .into_iter()
        .map(|glob| FileSystemWatcher { glob_pattern: GlobPattern::String(glob.to_owned()), kind: None })
        .collect();
    let options = DidChangeWatchedFilesRegistrationOptions { watchers };
    Registration {
        id: "asynclint/watched-files".to_owned(),
        method: "workspace/didChangeWatchedFiles".to_owned(),
        register_options: serde_json::to_value(options).ok(),
    }
}

/// Runs `work`, catching a panic: it is logged to stderr and the server stays up.
fn catch<T>(what: &str, work: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(value) => Some(value),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            eprintln!("asynclint: internal error while handling {what}: {message}");
            None
        }
    }
}

/// A hash of what a module offers other files: its functions and what they call and block on (with what decides
/// whether a call runs: generators, offloading decorators, guards, arguments), classes, imports and entry points, but
/// not positions, which change with every keystroke. The index keeps hops by their order in these lists, so two
/// summaries of one shape have their calls in the same order.
fn shape_of(summary: &ModuleSummary) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    summary.module.hash(&mut hasher);
    summary.imports.hash(&mut hasher);
    summary.entry_points.hash(&mut hasher);
    for function in &summary.functions {
        (&function.qualname, function.is_async, function.is_coroutine, function.memoized).hash(&mut hasher);
        (function.is_generator, function.offloaded, &function.decorators, function.offloads_argument).hash(&mut hasher);
        function.never_suspends.hash(&mut hasher);
        if let Some(unyielding) = &function.unyielding {
            for work in &unyielding.work {
                match work {
                    Work::Loop { keyword, .. } => keyword.hash(&mut hasher),
                    Work::Blocks { name, .. } => name.hash(&mut hasher),
                }
            }
            for call in &unyielding.calls {
                (&call.target, &call.guard, call.consumes_result, &call.arguments).hash(&mut hasher);
            }
        }
        for call in &function.blocking_calls {
            (&call.name, call.cost, &call.guard).hash(&mut hasher);
        }
        for call in &function.calls {
            (&call.target, &call.guard, call.consumes_result, &call.arguments).hash(&mut hasher);
        }
    }
    for class in &summary.classes {
        (&class.qualname, &class.bases).hash(&mut hasher);
    }
    hasher.finish()
}

/// The nearest ancestor directory of a file that marks a Python project, if any: the filesystem above it is no project.
fn project_root(file: &Path) -> Option<PathBuf> {
    file.ancestors()
        .skip(1)
        .find(|directory| workspace::PROJECT_MARKERS.iter().any(|marker| directory.join(marker).exists()))
        .map(Path::to_path_buf)
}

fn too_large_message(uri: &Uri) -> String {
    format!("asynclint skips {}: files of 5 MB or more are not analysed", uri.as_str())
}

fn document_path(uri: &Uri) -> String {
    match uri.to_file_path() {
        Some(path) => path.canonicalize().unwrap_or_else(|_| path.into_owned()).display().to_string(),
        None => uri.as_str().to_owned(),
    }
}

/// Runs `work` on the state, catching a panic: it is logged to stderr and the server stays up.
fn guarded<T>(state: &Mutex<State>, what: &str, work: impl FnOnce(&mut State) -> T) -> Option<T> {
    // A panic while the lock was held has been reported already; the state itself stays usable.
    let mut state = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    catch(what, || work(&mut state))
}

pub struct Backend {
    client: Client,
    state: Arc<Mutex<State>>,
    outbox: Outbox,
}

impl Backend {
    pub fn new(client: Client) -> Self {
        let state = State {
            documents: HashMap::new(),
            indexes: HashMap::new(),
            namespace_of_file: HashMap::new(),
            shapes: HashMap::new(),
            edited: HashSet::new(),
            edit_generation: 0,
            generation: 0,
            openings: 0,
            settings: Arc::new(Settings::default()),
            editor: EditorSettings::default(),
            encoding: Encoding::Utf16,
            roots: Vec::new(),
            roots_inferred: false,
            progress_supported: false,
            resolve_supported: false,
            pull: false,
            refresh_supported: false,
            watch_supported: false,
            refreshed: 0,
            cache_directory: None,
            indexings: 0,
            reindexings: 0,
            reindexed: HashMap::new(),
        };
        let outbox = Outbox { client: client.clone(), order: Arc::default() };
        Backend { client, state: Arc::new(Mutex::new(state)), outbox }
    }

    /// Runs `work` on the state, catching a panic: it is logged to stderr and the server stays up.
    fn guarded<T>(&self, what: &str, work: impl FnOnce(&mut State) -> T) -> Option<T> {
        guarded(&self.state, what, work)
    }

    /// After [`INDEX_REFRESH_DELAY`] without a newer edit, brings the edited documents' summaries into the index and
    /// analyses again what that may change (in the edited file and in the other open files).
    fn schedule_index_refresh(&self, generation: u64) {
        let state = self.state.clone();
        let outbox = self.outbox.clone();
        tokio::spawn(async move {
            tokio::time::sleep(INDEX_REFRESH_DELAY).await;
            let worker = state.clone();
            let uris = tokio::task::spawn_blocking(move || refresh_edited(&worker, generation)).await;
            schedule_analysis(&state, &outbox, uris.unwrap_or_default());
        });
    }

    fn analyse_again(&self, uris: Vec<Uri>) {
        schedule_analysis(&self.state, &self.outbox, uris);
    }

    /// Summarises every Python file of the workspace in the background, reporting `$/progress`, then re-checks the
    /// open documents against the full index. Changes on disk reported meanwhile are kept.
    async fn index_workspace(&self) {
        let begun = self.guarded("indexing", |state| {
            state.indexings += 1;
            let (roots, settings, cache_directory) =
                (state.roots.clone(), state.settings.clone(), state.cache_directory.clone());
            (state.indexings, state.reindexings, roots, settings, state.progress_supported, cache_directory)
        });
        let Some((run, reindexings, roots, settings, progress_supported, cache_directory)) = begun else { return };
        let token = NumberOrString::String("asynclint/indexing".to_owned());
        let progress = if progress_supported && self.client.create_work_done_progress(token.clone()).await.is_ok() {
            Some(self.client.progress(token, "asynclint: indexing").with_percentage(0).begin().await)
        } else {
            None
        };
        let discovery_settings = settings.clone();
        let files = tokio::task::spawn_blocking(move || {
            let mut files = Vec::new();
            for root in &roots {
                let Ok(exclusions) = Exclusions::new(&discovery_settings) else { continue };
                // No import reaches a notebook, and the server does not open notebook documents: only `check` reads
                // them.
                let found = workspace::discover(std::slice::from_ref(root), root, &exclusions).0;
                files.extend(found.into_iter().filter(|path| !workspace::is_notebook(path)));
            }
            let cache = cache_directory.and_then(|directory| AnalysisCache::open(&directory, cache::SERVER_FILE));
            (files, roots, cache.map(Arc::new))
        })
        .await;
        let Ok((files, roots, cache)) = files else { return };
        let total = files.len().max(1);
        let mut summaries = Vec::with_capacity(files.len());
        let mut cache_entries = Vec::with_capacity(files.len());
        for (chunk_index, chunk) in files.chunks(INDEX_CHUNK).enumerate() {
            let chunk = chunk.to_vec();
            let roots = roots.clone();
            let settings = settings.clone();
            let cache = cache.clone();
            let summarised = tokio::task::spawn_blocking(move || {
                let packages = PackageCache::default();
                chunk
                    .par_iter()
                    .filter_map(|path| {
                        let text = std::fs::read_to_string(path).ok()?;
                        if text.len() >= MAX_ANALYSED_BYTES {
                            return None;
                        }
                        let root = roots.iter().find(|root| path.starts_with(root))?;
                        let (namespace, module) = packages.locate(path, root);
                        let shown = path.display().to_string();
                        let cache = cache.as_deref();
                        let key = cache.map(|cache| cache.key(&settings, &module, &shown, &text));
                        if let Some((summary, entry)) = cache.zip(key).and_then(|(cache, key)| cache.lookup(path, key))
                        {
                            return Some((namespace, summary, Some(entry)));
                        }
                        let summary = summarize_document(&Document::new(shown, text), &module, &settings);
                        let entry = key.and_then(|key| cache::Entry::fresh(path, key, &summary));
                        Some((namespace, summary, entry))
                    })
                    .collect::<Vec<_>>()
            })
            .await;
            for (namespace, summary, entry) in summarised.unwrap_or_default() {
                summaries.push((namespace, summary));
                cache_entries.extend(entry);
            }
            if let Some(progress) = &progress {
                let done = ((chunk_index + 1) * INDEX_CHUNK).min(total);
                let percentage = (done * 100 / total) as u32;
                progress.report_with_message(format!("{done}/{total} files"), percentage).await;
            }
        }
        let uris = self.guarded("indexing", |state| {
            // A newer indexing has begun (new settings): it reads the files later, and stores its own summaries.
            if state.indexings != run {
                return Vec::new();
            }
            // Open documents have summaries of their own text, and a file reindexed since this indexing began has a
            // newer summary than the text read here.
            let open: Vec<String> = state.documents.values().map(|open| open.path.clone()).collect();
            let current = |path: &String| {
                !open.contains(path) && state.reindexed.get(path).is_none_or(|&reindexing| reindexing <= reindexings)
            };
            let summaries: Vec<_> = summaries.into_iter().filter(|(_, summary)| current(&summary.path)).collect();
            for (namespace, summary) in summaries {
                state.store_summary(&namespace, summary);
            }
            // The open documents' summaries in the index were made with the settings of their last pause in typing:
            // the next analysis of each makes them again with these (the catalogue may have changed).
            for open in state.documents.values_mut() {
                open.record_summary = !open.too_large;
            }
            state.refresh_indexes();
            state.invalidate()
        });
        if let Some(progress) = progress {
            progress.finish_with_message("done").await;
        }
        self.analyse_again(uris.unwrap_or_default());
        if let Some(cache) = cache {
            let saved = tokio::task::spawn_blocking(move || cache.save(&cache_entries)).await;
            if let Ok(Err(problem)) = saved {
                self.client.log_message(MessageType::WARNING, format!("asynclint: {problem}")).await;
            }
        }
    }

    /// Brings one file on disk into the index (or out of it, when it is gone), unless it is open in the editor.
    fn reindex_file(state: &mut State, path: &Path, deleted: bool) -> bool {
        let shown = path.display().to_string();
        if state.documents.values().any(|open| open.path == shown) {
            return false;
        }
        state.reindexings += 1;
        state.reindexed.insert(shown.clone(), state.reindexings);
        let text = if deleted { None } else { std::fs::read_to_string(path).ok() };
        match text {
            Some(text) if text.len() < MAX_ANALYSED_BYTES => {
                let (namespace, module) = state.place_of(path);
                let document = Document::new(shown, text);
                let summary = summarize_document(&document, &module, &state.settings);
                state.record_summary(&namespace, summary)
            }
            _ => {
                state.remove_from_index(&shown);
                true
            }
        }
    }

    /// The quick fixes for the requested range, computed at once (see [`focus`]), and what fix-all needs: a snapshot
    /// to compute it now, when asked for by kind, or the data that lets `codeAction/resolve` compute it later. Runs on
    /// the blocking pool, on a copy of the document's parsed copy: the copy is taken under the parsed copy's lock in
    /// well under a millisecond (its trees are shared), so the analysis of the next keystroke does not wait for the
    /// code action. `version` is the document's version when the request came.
    fn code_actions(state: &Mutex<State>, params: &CodeActionParams, version: i32) -> Option<Result<CodeActionPlan>> {
        let uri = &params.text_document.uri;
        let resolve_supported = guarded(state, "codeAction", |state| state.resolve_supported)?;
        let (document, snapshot) =
            with_current_document(state, uri, |document, snapshot| (document.clone(), snapshot.clone()))?;
        catch("codeAction", || {
            // The request's positions are in the version it was sent for.
            if snapshot.version != version {
                return Err(Error::content_modified());
            }
            let document = &document;
            let snapshot = &snapshot;
            let mut plan = CodeActionPlan { actions: Vec::new(), fix_all: None };
            let encoding = snapshot.encoding;
            let requested = convert::text_range(document, params.range, encoding);
            let only = params.context.only.as_deref();
            let quickfix = CodeActionKind::QUICKFIX;
            if only.is_none_or(|only| only.iter().any(|wanted| quickfix.as_str().starts_with(wanted.as_str()))) {
                let (module, index, settings) = (&snapshot.module, &snapshot.index, &snapshot.settings);
                let findings = check_range(document, module, index, settings, requested);
                for finding in &findings {
                    for fix in &finding.fixes {
                        let action = convert::quick_fix(document, uri, finding, fix, encoding);
                        plan.actions.push(CodeActionOrCommand::CodeAction(action));
                    }
                    if let Some(action) = noqa_action(document, uri, finding, encoding) {
                        plan.actions.push(CodeActionOrCommand::CodeAction(action));
                    }
                }
            }
            let fix_all = convert::fix_all_kind();
            let asked =
                only.is_some_and(|only| only.iter().any(|wanted| fix_all.as_str().starts_with(wanted.as_str())));
            if asked {
                plan.fix_all = Some(FixAll::Now(Box::new(FixAllJob::new(uri, document.text(), snapshot))));
            } else if only.is_none() && resolve_supported {
                plan.fix_all = Some(FixAll::Later(ResolveData { uri: uri.clone(), version }));
            }
            Ok(plan)
        })
    }
}

/// What a code action request answers: the quick fixes, and fix-all to compute now or on resolve.
struct CodeActionPlan {
    actions: Vec<CodeActionOrCommand>,
    fix_all: Option<FixAll>,
}

enum FixAll {
    Now(Box<FixAllJob>),
    Later(ResolveData),
}

/// Which document version a lazily offered fix-all was for (the code action's `data`).
struct ResolveData {
    uri: Uri,
    version: i32,
}

impl ResolveData {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "uri": self.uri.as_str(), "version": self.version })
    }

    fn from_json(value: &serde_json::Value) -> Option<ResolveData> {
        let uri = value.get("uri")?.as_str()?.parse().ok()?;
        let version = i32::try_from(value.get("version")?.as_i64()?).ok()?;
        Some(ResolveData { uri, version })
    }
}

/// Everything fix-all needs, taken from the state so that it runs off the lock: edits keep being applied meanwhile.
struct FixAllJob {
    uri: Uri,
    version: i32,
    path: String,
    text: String,
    module: ModuleInfo,
    index: Arc<ProjectIndex>,
    settings: Arc<Settings>,
    encoding: Encoding,
}

impl FixAllJob {
    fn new(uri: &Uri, text: &str, snapshot: &Snapshot) -> FixAllJob {
        FixAllJob {
            uri: uri.clone(),
            version: snapshot.version,
            path: snapshot.path.clone(),
            text: text.to_owned(),
            module: snapshot.module.clone(),
            index: snapshot.index.clone(),
            settings: snapshot.settings.clone(),
            encoding: snapshot.encoding,
        }
    }

    /// Applies every safe fix, round after round, and returns one edit replacing the document when anything changed.
    fn run(self) -> Option<TextEdit> {
        let original = Document::new(self.path.clone(), self.text.as_str());
        let safe = |applicability| applicability == Applicability::Safe;
        let fixed = fix_all(Document::new(self.path, self.text), &self.module, &self.index, &self.settings, safe);
        if fixed.document.text() == original.text() {
            return None;
        }
        let whole = crate::core::diagnostic::TextRange::new(0, original.text().len());
        Some(TextEdit { range: convert::range(&original, whole, self.encoding), new_text: fixed.document.into_text() })
    }

    fn action(uri: &Uri, edit: Option<TextEdit>) -> CodeAction {
        CodeAction {
            title: "Fix all safe asynclint findings".to_owned(),
            kind: Some(convert::fix_all_kind()),
            edit: Some(convert::workspace_edit(uri, edit.into_iter().collect())),
            ..CodeAction::default()
        }
    }
}

impl State {
    /// Fix-all from the editor's text, which needs no parsed copy.
    fn fix_all_job(&self, uri: &Uri) -> Option<FixAllJob> {
        let snapshot = self.snapshot(uri).filter(|snapshot| snapshot.active)?;
        Some(FixAllJob::new(uri, self.documents.get(uri)?.text(), &snapshot))
    }

    fn is_current(&self, uri: &Uri, version: i32) -> bool {
        self.documents.get(uri).is_some_and(|open| open.version == version)
    }
}

/// Runs fix-all on the blocking pool; a panic in it is logged and answered as an internal error.
async fn run_fix_all(job: FixAllJob) -> Result<Option<TextEdit>> {
    tokio::task::spawn_blocking(move || job.run()).await.map_err(|error| {
        eprintln!("asynclint: internal error while fixing all: {error}");
        Error::internal_error()
    })
}

/// "Suppress with `# noqa`": appends the code to the line's `# noqa: ...` list, or adds one; none where a comment
/// cannot go.
fn noqa_action(document: &Document, uri: &Uri, finding: &Diagnostic, encoding: Encoding) -> Option<CodeAction> {
    let edits = crate::core::suppressions::noqa_edits(document, std::slice::from_ref(finding));
    if edits.is_empty() {
        return None;
    }
    Some(CodeAction {
        title: format!("Suppress {} with `# noqa`", finding.code),
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![convert::diagnostic(document, finding, encoding)]),
        edit: Some(convert::workspace_edit(uri, convert::text_edits(document, &edits, encoding))),
        ..CodeAction::default()
    })
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let offers_utf8 = params
            .capabilities
            .general
            .as_ref()
            .and_then(|general| general.position_encodings.as_ref())
            .is_some_and(|encodings| encodings.contains(&PositionEncodingKind::UTF8));
        let progress_supported =
            params.capabilities.window.as_ref().and_then(|window| window.work_done_progress).unwrap_or(false);
        let code_action = params.capabilities.text_document.as_ref().and_then(|text| text.code_action.as_ref());
        let resolve_supported = code_action.is_some_and(|code_action| {
            code_action.code_action_literal_support.is_some()
                && code_action
                    .resolve_support
                    .as_ref()
                    .is_some_and(|support| support.properties.iter().any(|p| p == "edit"))
        });
        let pull = params.capabilities.text_document.as_ref().is_some_and(|text| text.diagnostic.is_some());
        let workspace = params.capabilities.workspace.as_ref();
        let refresh_supported = workspace
            .and_then(|workspace| workspace.diagnostics.as_ref())
            .and_then(|diagnostics| diagnostics.refresh_support)
            .unwrap_or(false);
        let watch_supported = workspace
            .and_then(|workspace| workspace.did_change_watched_files.as_ref())
            .and_then(|watched| watched.dynamic_registration)
            .unwrap_or(false);
        let mut roots: Vec<PathBuf> = params
            .workspace_folders
            .iter()
            .flatten()
            .filter_map(|folder| folder.uri.to_file_path().map(|path| path.into_owned()))
            .collect();
        #[allow(deprecated)] // older clients send only rootUri
        if roots.is_empty() {
            roots.extend(params.root_uri.as_ref().and_then(|uri| uri.to_file_path()).map(|path| path.into_owned()));
        }
        let roots: Vec<PathBuf> = roots.into_iter().map(|root| root.canonicalize().unwrap_or(root)).collect();
        let (editor, editor_problem) =
            params.initialization_options.as_ref().and_then(EditorSettings::from_json).unwrap_or_default();
        let problem = self
            .guarded("initialize", |state| {
                state.encoding = if offers_utf8 { Encoding::Utf8 } else { Encoding::Utf16 };
                state.roots_inferred = roots.is_empty();
                state.roots = roots;
                state.editor = editor;
                state.progress_supported = progress_supported;
                state.resolve_supported = resolve_supported;
                state.pull = pull;
                state.refresh_supported = refresh_supported;
                state.watch_supported = watch_supported;
                state.rebuild_settings()
            })
            .ok_or_else(Error::internal_error)?;
        if let Some(problem) = problem {
            self.client.show_message(MessageType::ERROR, problem).await;
        }
        if let Some(problem) = editor_problem {
            self.client.show_message(MessageType::WARNING, problem).await;
        }
        let encoding = if offers_utf8 { PositionEncodingKind::UTF8 } else { PositionEncodingKind::UTF16 };
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(encoding),
                text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::INCREMENTAL)),
                code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
                    code_action_kinds: Some(vec![CodeActionKind::QUICKFIX, convert::fix_all_kind()]),
                    resolve_provider: Some(true),
                    ..CodeActionOptions::default()
                })),
                // A finding in one file depends on the helpers it calls in others.
                diagnostic_provider: Some(DiagnosticServerCapabilities::Options(DiagnosticOptions {
                    identifier: Some("asynclint".to_owned()),
                    inter_file_dependencies: true,
                    workspace_diagnostics: false,
                    ..DiagnosticOptions::default()
                })),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "asynclint".to_owned(),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
            ..InitializeResult::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        // Without watchers, no client reports changes on disk (a `git checkout`, another editor), and the index keeps
        // the files as they were read.
        // Registered beside indexing, not before it: a client slow to answer, or never answering, must not hold the
        // index back.
        if self.guarded("initialized", |state| state.watch_supported) == Some(true) {
            let client = self.client.clone();
            tokio::spawn(async move {
                if let Err(error) = client.register_capability(vec![watched_files_registration()]).await {
                    let message = format!("asynclint: cannot watch the workspace's files: {error}");
                    client.log_message(MessageType::WARNING, message).await;
                }
            });
        }
        self.index_workspace().await;
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let item = params.text_document;
        let too_large = item.text.len() >= MAX_ANALYSED_BYTES;
        let opened = self.guarded("didOpen", |state| {
            let path = document_path(&item.uri);
            // Without a workspace from the client, the project of each file opened is indexed, for cross-file findings.
            let new_root = state.roots_inferred.then(|| project_root(Path::new(&path))).flatten();
            let new_root = new_root.filter(|root| !state.roots.iter().any(|known| root.starts_with(known)));
            let problem = new_root.map(|root| {
                state.roots.push(root);
                state.rebuild_settings()
            });
            let (namespace, module) = state.place_of(Path::new(&path));
            state.openings += 1;
            let open = OpenDocument::new(state.openings, path, (namespace, module), item.version, item.text, too_large);
            state.documents.insert(item.uri.clone(), open);
            problem
        });
        let Some(new_root) = opened else { return };
        if too_large {
            self.client.show_message(MessageType::WARNING, too_large_message(&item.uri)).await;
        }
        // The first analysis also puts the file's summary into the index, and re-checks the others if that matters.
        self.analyse_again(vec![item.uri]);
        if let Some(problem) = new_root {
            if let Some(problem) = problem {
                self.client.show_message(MessageType::ERROR, problem).await;
            }
            self.index_workspace().await;
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let changed = self.guarded("didChange", |state| {
            let encoding = state.encoding;
            let Some(open) = state.documents.get_mut(&uri) else {
                eprintln!("asynclint: ignoring a change to {}, which is not open", uri.as_str());
                return None;
            };
            for change in params.content_changes {
                open.change(change.range, change.text, encoding);
            }
            open.version = params.text_document.version;
            let was_too_large = open.too_large;
            open.too_large = open.text().len() >= MAX_ANALYSED_BYTES;
            let became_too_large = open.too_large && !was_too_large;
            if open.too_large {
                return Some((became_too_large, None));
            }
            // A keystroke is checked against the index as it is; the file's own summary waits for a pause in typing
            // before it reaches the index (and the other open files): see INDEX_REFRESH_DELAY.
            state.edited.insert(uri.clone());
            state.edit_generation += 1;
            Some((false, Some(state.edit_generation)))
        });
        let Some(Some((became_too_large, refresh))) = changed else { return };
        if became_too_large {
            self.client.show_message(MessageType::WARNING, too_large_message(&uri)).await;
        }
        self.analyse_again(vec![uri]);
        if let Some(generation) = refresh {
            self.schedule_index_refresh(generation);
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        let uris = self.guarded("didClose", |state| {
            let Some(closed) = state.documents.remove(&uri) else { return Vec::new() };
            // The file on disk is what the project has now.
            let path = PathBuf::from(&closed.path);
            if Self::reindex_file(state, &path, !path.is_file()) {
                state.invalidate()
            } else {
                Vec::new()
            }
        });
        // Cleared under the publishing lock (see [`Outbox`]), unless opened again meanwhile: an analysis that found the
        // document open publishes before this, never after. A client that pulls was never pushed any.
        let order = self.outbox.order.lock().await;
        if self.guarded("didClose", |state| !state.pull && !state.documents.contains_key(&uri)) == Some(true) {
            self.client.publish_diagnostics(uri, Vec::new(), None).await;
        }
        drop(order);
        self.analyse_again(uris.unwrap_or_default());
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let parsed = EditorSettings::from_json(&params.settings);
        let editor_problem = parsed.as_ref().and_then(|(_, problem)| problem.clone());
        let problem = self.guarded("didChangeConfiguration", |state| {
            if let Some((editor, _)) = parsed {
                state.editor = editor;
            }
            state.rebuild_settings()
        });
        if let Some(problem) = editor_problem {
            self.client.show_message(MessageType::WARNING, problem).await;
        }
        if let Some(Some(problem)) = problem {
            self.client.show_message(MessageType::ERROR, problem).await;
        }
        // The catalogue may have changed: every summary depends on it.
        self.index_workspace().await;
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let mut config_changed = false;
        let batch = self.guarded("didChangeWatchedFiles", |state| {
            let mut exported_changed = false;
            for change in &params.changes {
                let Some(path) = change.uri.to_file_path() else { continue };
                let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("");
                if name == "pyproject.toml" || name == "asynclint.toml" {
                    config_changed = true;
                } else if path.extension().is_some_and(|extension| extension == "py") {
                    let path = path.canonicalize().unwrap_or_else(|_| path.into_owned());
                    exported_changed |= Self::reindex_file(state, &path, change.typ == FileChangeType::DELETED);
                }
            }
            if exported_changed {
                state.invalidate()
            } else {
                Vec::new()
            }
        });
        self.analyse_again(batch.unwrap_or_default());
        if config_changed {
            let problem = self.guarded("didChangeWatchedFiles", State::rebuild_settings);
            if let Some(Some(problem)) = problem {
                self.client.show_message(MessageType::ERROR, problem).await;
            }
            self.index_workspace().await;
        }
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri.clone();
        let version = self.guarded("codeAction", |state| state.documents.get(&uri).map(|open| open.version));
        let Some(version) = version.ok_or_else(Error::internal_error)? else { return Ok(Some(Vec::new())) };
        let state = self.state.clone();
        let plan = tokio::task::spawn_blocking(move || Self::code_actions(&state, &params, version)).await;
        let Some(CodeActionPlan { mut actions, fix_all }) = plan.map_err(|_| Error::internal_error())?.transpose()?
        else {
            return Ok(Some(Vec::new()));
        };
        match fix_all {
            Some(FixAll::Now(job)) => {
                let (uri, version) = (job.uri.clone(), job.version);
                let edit = run_fix_all(*job).await?;
                // Fix-all replaces the whole text: against a newer version it would undo the edits made meanwhile.
                if self.guarded("codeAction", |state| state.is_current(&uri, version)) != Some(true) {
                    return Err(Error::content_modified());
                }
                if edit.is_some() {
                    actions.push(CodeActionOrCommand::CodeAction(FixAllJob::action(&uri, edit)));
                }
            }
            Some(FixAll::Later(data)) => actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: "Fix all safe asynclint findings".to_owned(),
                kind: Some(convert::fix_all_kind()),
                data: Some(data.to_json()),
                ..CodeAction::default()
            })),
            None => {}
        }
        Ok(Some(actions))
    }

    async fn code_action_resolve(&self, mut action: CodeAction) -> Result<CodeAction> {
        let Some(data) = action.data.as_ref().and_then(ResolveData::from_json) else { return Ok(action) };
        let job = self
            .guarded("codeAction/resolve", |state| {
                state.fix_all_job(&data.uri).filter(|job| job.version == data.version)
            })
            .ok_or_else(Error::internal_error)?;
        // The action was offered for a version the document has left: its edit would be for another text.
        let Some(job) = job else { return Err(Error::content_modified()) };
        let edit = run_fix_all(job).await?;
        if self.guarded("codeAction/resolve", |state| state.is_current(&data.uri, data.version)) != Some(true) {
            return Err(Error::content_modified());
        }
        action.edit = Some(convert::workspace_edit(&data.uri, edit.into_iter().collect()));
        Ok(action)
    }

    async fn diagnostic(&self, params: DocumentDiagnosticParams) -> Result<DocumentDiagnosticReportResult> {
        let uri = params.text_document.uri;
        let unchanged = self
            .guarded("textDocument/diagnostic", |state| {
                let id = state.result_id(&uri)?;
                if params.previous_result_id.as_ref() != Some(&id) {
                    return None;
                }
                let generation = state.generation;
                state.documents.get_mut(&uri)?.pulled = Some(generation);
                Some(id)
            })
            .ok_or_else(Error::internal_error)?;
        if let Some(result_id) = unchanged {
            let report = RelatedUnchangedDocumentDiagnosticReport {
                related_documents: None,
                unchanged_document_diagnostic_report: UnchangedDocumentDiagnosticReport { result_id },
            };
            return Ok(DocumentDiagnosticReportResult::Report(DocumentDiagnosticReport::Unchanged(report)));
        }
        let state = self.state.clone();
        let pulled =
            tokio::task::spawn_blocking(move || pull(&state, &uri)).await.map_err(|_| Error::internal_error())?;
        // A document that is not open has no findings the server knows of.
        let (result_id, items) = pulled.map_or((None, Vec::new()), |(id, items)| (Some(id), items));
        let report = RelatedFullDocumentDiagnosticReport {
            related_documents: None,
            full_document_diagnostic_report: FullDocumentDiagnosticReport { result_id, items },
        };
        Ok(DocumentDiagnosticReportResult::Report(DocumentDiagnosticReport::Full(report)))
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<lsp::Hover>> {
        let at = params.text_document_position_params;
        let uri = at.text_document.uri;
        let version = self.guarded("textDocument/hover", |state| state.documents.get(&uri).map(|open| open.version));
        let Some(version) = version.ok_or_else(Error::internal_error)? else { return Ok(None) };
        let state = self.state.clone();
        let hover = tokio::task::spawn_blocking(move || hover_at(&state, &uri, at.position, version)).await;
        hover.map_err(|_| Error::internal_error())?
    }
}
