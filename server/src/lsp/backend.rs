//! The server's state and handlers: open documents (rope + tree, edited incrementally), the project index built in
//! the background, settings from `pyproject.toml` and the editor, diagnostics and code actions.

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
    CodeActionProviderCapability, CodeActionResponse, DidChangeConfigurationParams, DidChangeTextDocumentParams,
    DidChangeWatchedFilesParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams, FileChangeType,
    InitializeParams, InitializeResult, InitializedParams, MessageType, NumberOrString, PositionEncodingKind,
    ServerCapabilities, ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri,
};
use tower_lsp_server::{Client, LanguageServer};

use crate::cache::{self, AnalysisCache};
use crate::core::catalogue::BlockingSpec;
use crate::core::check::{check_model, fix_all, summarize_document, ModuleInfo};
use crate::core::diagnostic::{Applicability, Diagnostic};
use crate::core::document::Document;

use crate::core::index::ProjectIndex;
use crate::core::positions::Encoding;
use crate::core::semantic::SemanticModel;
use crate::core::settings::{Config, Settings};
use crate::core::summary::ModuleSummary;
use crate::workspace::{self, Exclusions, PackageCache};

use super::{convert, focus};

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
    /// Accepts both `{ "asynclint": { ... } }` and the bare table.
    fn from_json(value: &serde_json::Value) -> Option<EditorSettings> {
        let table = value.get("asynclint").unwrap_or(value);
        serde_json::from_value(table.clone()).ok()
    }
}

struct OpenDocument {
    document: Document,
    version: i32,
    module: ModuleInfo,
    too_large: bool,
}

impl OpenDocument {
    fn model<'a>(&'a self, settings: &'a Settings) -> SemanticModel<'a> {
        SemanticModel::build(&self.document, &self.module.name, self.module.is_package, settings.catalogue())
    }
}

struct State {
    documents: HashMap<Uri, OpenDocument>,
    /// Shared with the code actions computed off the lock; an update copies it only while one of them holds it.
    index: Arc<ProjectIndex>,
    /// What each module exports, as far as other files care: a change re-checks the open documents.
    shapes: HashMap<String, u64>,
    /// Open documents edited since the index last took their summary: they are summarised once typing pauses.
    edited: HashSet<Uri>,
    /// Bumped by each edit: a refresh timer only acts if no later edit came.
    edit_generation: u64,
    settings: Arc<Settings>,
    editor: EditorSettings,
    encoding: Encoding,
    roots: Vec<PathBuf>,
    progress_supported: bool,
    /// The client resolves code actions lazily (`codeAction/resolve` of their edit): fix-all is then offered on every
    /// request and computed only when chosen.
    resolve_supported: bool,
    /// Where the workspace index keeps file summaries between sessions; None without a workspace folder.
    cache_directory: Option<PathBuf>,
}

impl State {
    fn index_mut(&mut self) -> &mut ProjectIndex {
        Arc::make_mut(&mut self.index)
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

    fn module_of(&self, path: &Path) -> ModuleInfo {
        let root = self
            .roots
            .iter()
            .filter(|root| path.starts_with(root))
            .max_by_key(|root| root.as_os_str().len())
            .cloned()
            .unwrap_or_else(|| workspace::project_root(path));
        PackageCache::default().module_of(path, &root)
    }

    /// Puts a summary in the index and remembers its shape; the caller refreshes the index once for a batch.
    fn store_summary(&mut self, summary: ModuleSummary) {
        self.shapes.insert(summary.path.clone(), shape_of(&summary));
        self.index_mut().upsert(summary);
    }

    /// Records a module's summary at once; true when what it exports changed (so other files may need a re-check).
    fn record_summary(&mut self, summary: ModuleSummary) -> bool {
        let shape = shape_of(&summary);
        let changed = self.shapes.insert(summary.path.clone(), shape) != Some(shape);
        self.index_mut().upsert(summary);
        if changed {
            self.index_mut().refresh();
        }
        changed
    }

    /// Summarises the documents edited since the last pause in typing. A summary whose shape is unchanged (positions
    /// only) goes into the index as it is; if some shape changed, the index is refreshed and the open documents whose
    /// diagnostics changed are returned.
    fn apply_edits(&mut self) -> Vec<(Uri, Vec<lsp::Diagnostic>, i32)> {
        let mut reshaped = Vec::new();
        for uri in std::mem::take(&mut self.edited) {
            let Some(open) = self.documents.get(&uri).filter(|open| !open.too_large) else { continue };
            let summary = summarize_document(&open.document, &open.module, &self.settings);
            if self.shapes.get(&summary.path) == Some(&shape_of(&summary)) {
                self.index_mut().upsert(summary);
            } else {
                reshaped.push(summary);
            }
        }
        if reshaped.is_empty() {
            return Vec::new();
        }
        let before = self.all_diagnostics();
        for summary in reshaped {
            self.store_summary(summary);
        }
        self.index_mut().refresh();
        let mut after = self.all_diagnostics();
        after.retain(|(uri, diagnostics, version)| {
            !before
                .iter()
                .any(|(old_uri, old, old_version)| old_uri == uri && old == diagnostics && old_version == version)
        });
        after
    }

    fn diagnostics(&self, uri: &Uri) -> Option<(Uri, Vec<lsp::Diagnostic>, i32)> {
        let open = self.documents.get(uri)?;
        if !self.enabled() || open.too_large {
            return Some((uri.clone(), Vec::new(), open.version));
        }
        // Publishing needs no fixes: code actions build them when asked.
        let model = open.model(&self.settings);
        let settings = self.settings_for(&open.document.path);
        let found = check_model(&open.document, &model, &self.index, &settings, false);
        let converted = found.iter().map(|d| convert::diagnostic(&open.document, d, self.encoding)).collect();
        Some((uri.clone(), converted, open.version))
    }

    fn all_diagnostics(&self) -> Vec<(Uri, Vec<lsp::Diagnostic>, i32)> {
        let uris: Vec<&Uri> = self.documents.keys().collect();
        uris.into_iter().filter_map(|uri| self.diagnostics(uri)).collect()
    }
}

/// A hash of what a module offers other files: its functions and what they call and block on, classes, imports and
/// entry points, but not positions, which change with every keystroke.
fn shape_of(summary: &ModuleSummary) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    summary.module.hash(&mut hasher);
    summary.imports.hash(&mut hasher);
    summary.entry_points.hash(&mut hasher);
    for function in &summary.functions {
        (&function.qualname, function.is_async, function.is_coroutine, function.memoized).hash(&mut hasher);
        function.blocking_calls.iter().map(|call| &call.name).for_each(|name| name.hash(&mut hasher));
        function.calls.iter().map(|call| &call.target).for_each(|target| target.hash(&mut hasher));
    }
    for class in &summary.classes {
        (&class.qualname, &class.bases).hash(&mut hasher);
    }
    hasher.finish()
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
    match catch_unwind(AssertUnwindSafe(|| work(&mut state))) {
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

async fn publish(client: &Client, batch: Vec<(Uri, Vec<lsp::Diagnostic>, i32)>) {
    for (uri, diagnostics, version) in batch {
        client.publish_diagnostics(uri, diagnostics, Some(version)).await;
    }
}

pub struct Backend {
    client: Client,
    state: Arc<Mutex<State>>,
}

impl Backend {
    pub fn new(client: Client) -> Self {
        let state = State {
            documents: HashMap::new(),
            index: Arc::new(ProjectIndex::default()),
            shapes: HashMap::new(),
            edited: HashSet::new(),
            edit_generation: 0,
            settings: Arc::new(Settings::default()),
            editor: EditorSettings::default(),
            encoding: Encoding::Utf16,
            roots: Vec::new(),
            progress_supported: false,
            resolve_supported: false,
            cache_directory: None,
        };
        Backend { client, state: Arc::new(Mutex::new(state)) }
    }

    /// Runs `work` on the state, catching a panic: it is logged to stderr and the server stays up.
    fn guarded<T>(&self, what: &str, work: impl FnOnce(&mut State) -> T) -> Option<T> {
        guarded(&self.state, what, work)
    }

    /// After [`INDEX_REFRESH_DELAY`] without a newer edit, brings the edited documents' summaries into the index and
    /// publishes what that changed (in the edited file and in the other open files).
    fn schedule_index_refresh(&self, generation: u64) {
        let state = self.state.clone();
        let client = self.client.clone();
        tokio::spawn(async move {
            tokio::time::sleep(INDEX_REFRESH_DELAY).await;
            let batch = guarded(&state, "index refresh", |state| {
                if state.edit_generation == generation {
                    state.apply_edits()
                } else {
                    Vec::new()
                }
            });
            publish(&client, batch.unwrap_or_default()).await;
        });
    }

    async fn publish(&self, batch: Vec<(Uri, Vec<lsp::Diagnostic>, i32)>) {
        publish(&self.client, batch).await;
    }

    /// Summarises every Python file of the workspace in the background, reporting `$/progress`, then re-checks the
    /// open documents against the full index.
    async fn index_workspace(&self) {
        let Some((roots, settings, progress_supported, cache_directory)) = self.guarded("indexing", |state| {
            (state.roots.clone(), state.settings.clone(), state.progress_supported, state.cache_directory.clone())
        }) else {
            return;
        };
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
                files.extend(workspace::discover(std::slice::from_ref(root), root, &exclusions).0);
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
                        let module = packages.module_of(path, root);
                        let shown = path.display().to_string();
                        let cache = cache.as_deref();
                        let key = cache.map(|cache| cache.key(&settings, &module, &shown, &text));
                        if let Some((summary, entry)) = cache.zip(key).and_then(|(cache, key)| cache.lookup(path, key))
                        {
                            return Some((summary, Some(entry)));
                        }
                        let summary = summarize_document(&Document::new(shown, text), &module, &settings);
                        let entry = key.and_then(|key| cache::Entry::fresh(path, key, &summary));
                        Some((summary, entry))
                    })
                    .collect::<Vec<_>>()
            })
            .await;
            for (summary, entry) in summarised.unwrap_or_default() {
                summaries.push(summary);
                cache_entries.extend(entry);
            }
            if let Some(progress) = &progress {
                let done = ((chunk_index + 1) * INDEX_CHUNK).min(total);
                let percentage = (done * 100 / total) as u32;
                progress.report_with_message(format!("{done}/{total} files"), percentage).await;
            }
        }
        let batch = self.guarded("indexing", |state| {
            let open: Vec<String> = state.documents.values().map(|open| open.document.path.clone()).collect();
            for summary in summaries.into_iter().filter(|summary| !open.contains(&summary.path)) {
                state.store_summary(summary);
            }
            state.index_mut().refresh();
            state.all_diagnostics()
        });
        if let Some(progress) = progress {
            progress.finish_with_message("done").await;
        }
        self.publish(batch.unwrap_or_default()).await;
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
        if state.documents.values().any(|open| open.document.path == shown) {
            return false;
        }
        let text = if deleted { None } else { std::fs::read_to_string(path).ok() };
        match text {
            Some(text) if text.len() < MAX_ANALYSED_BYTES => {
                let module = state.module_of(path);
                let document = Document::new(shown, text);
                let summary = summarize_document(&document, &module, &state.settings);
                state.record_summary(summary)
            }
            _ => {
                state.index_mut().remove(&shown);
                state.shapes.remove(&shown);
                state.index_mut().refresh();
                true
            }
        }
    }

    /// The quick fixes for the requested range, computed at once (see [`focus`]), and what fix-all needs: a snapshot
    /// to compute it now, when asked for by kind, or the data that lets `codeAction/resolve` compute it later.
    fn code_actions(state: &State, params: &CodeActionParams) -> Option<CodeActionPlan> {
        let uri = &params.text_document.uri;
        let open = state.documents.get(uri)?;
        let mut plan = CodeActionPlan { actions: Vec::new(), fix_all: None };
        if !state.enabled() || open.too_large {
            return Some(plan);
        }
        let document = &open.document;
        let encoding = state.encoding;
        let requested = convert::text_range(document, params.range, encoding);
        let settings = state.settings_for(&document.path);
        let only = params.context.only.as_deref();
        if only
            .is_none_or(|only| only.iter().any(|wanted| CodeActionKind::QUICKFIX.as_str().starts_with(wanted.as_str())))
        {
            let findings = focus::findings_with_fixes(document, &open.module, &state.index, &settings, requested);
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
        let asked = only.is_some_and(|only| only.iter().any(|wanted| fix_all.as_str().starts_with(wanted.as_str())));
        if asked {
            plan.fix_all = Some(FixAll::Now(Box::new(state.fix_all_job(uri)?)));
        } else if only.is_none() && state.resolve_supported {
            plan.fix_all = Some(FixAll::Later(ResolveData { uri: uri.clone(), version: open.version }));
        }
        Some(plan)
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
    settings: Settings,
    encoding: Encoding,
}

impl FixAllJob {
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
    fn fix_all_job(&self, uri: &Uri) -> Option<FixAllJob> {
        let open = self.documents.get(uri).filter(|open| !open.too_large && self.enabled())?;
        Some(FixAllJob {
            uri: uri.clone(),
            version: open.version,
            path: open.document.path.clone(),
            text: open.document.text().to_owned(),
            module: open.module.clone(),
            index: self.index.clone(),
            settings: self.settings_for(&open.document.path).into_owned(),
            encoding: self.encoding,
        })
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
        let editor = params.initialization_options.as_ref().and_then(EditorSettings::from_json).unwrap_or_default();
        let problem = self
            .guarded("initialize", |state| {
                state.encoding = if offers_utf8 { Encoding::Utf8 } else { Encoding::Utf16 };
                state.roots = roots;
                state.editor = editor;
                state.progress_supported = progress_supported;
                state.resolve_supported = resolve_supported;
                state.rebuild_settings()
            })
            .ok_or_else(Error::internal_error)?;
        if let Some(problem) = problem {
            self.client.show_message(MessageType::ERROR, problem).await;
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
        self.index_workspace().await;
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let item = params.text_document;
        let batch = self.guarded("didOpen", |state| {
            let path = document_path(&item.uri);
            let too_large = item.text.len() >= MAX_ANALYSED_BYTES;
            let module = state.module_of(Path::new(&path));
            let document = Document::new(path, item.text);
            let exported_changed = if too_large {
                false
            } else {
                let summary = summarize_document(&document, &module, &state.settings);
                state.record_summary(summary)
            };
            state
                .documents
                .insert(item.uri.clone(), OpenDocument { document, version: item.version, module, too_large });
            let batch = if exported_changed {
                state.all_diagnostics()
            } else {
                state.diagnostics(&item.uri).into_iter().collect()
            };
            (batch, too_large)
        });
        let Some((batch, too_large)) = batch else { return };
        if too_large {
            let message = format!("asynclint skips {}: files of 5 MB or more are not analysed", item.uri.as_str());
            self.client.show_message(MessageType::WARNING, message).await;
        }
        self.publish(batch).await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let batch = self.guarded("didChange", |state| {
            let encoding = state.encoding;
            let Some(open) = state.documents.get_mut(&uri) else {
                eprintln!("asynclint: ignoring a change to {}, which is not open", uri.as_str());
                return (Vec::new(), None);
            };
            for change in params.content_changes {
                match change.range {
                    Some(range) => {
                        let range = convert::text_range(&open.document, range, encoding);
                        open.document.edit(range, &change.text);
                    }
                    None => open.document.set_text(change.text),
                }
            }
            open.version = params.text_document.version;
            open.too_large = open.document.text().len() >= MAX_ANALYSED_BYTES;
            if open.too_large {
                return (state.diagnostics(&uri).into_iter().collect(), None);
            }
            // A keystroke is checked at once against the index as it is; the file's own summary waits for a pause in
            // typing before it reaches the index (and the other open files): see INDEX_REFRESH_DELAY.
            let published = state.diagnostics(&uri).into_iter().collect();
            state.edited.insert(uri.clone());
            state.edit_generation += 1;
            (published, Some(state.edit_generation))
        });
        let Some((batch, refresh)) = batch else { return };
        self.publish(batch).await;
        if let Some(generation) = refresh {
            self.schedule_index_refresh(generation);
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        let batch = self.guarded("didClose", |state| {
            let Some(closed) = state.documents.remove(&uri) else { return Vec::new() };
            // The file on disk is what the project has now.
            let path = PathBuf::from(&closed.document.path);
            if Self::reindex_file(state, &path, !path.is_file()) {
                state.all_diagnostics()
            } else {
                Vec::new()
            }
        });
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
        self.publish(batch.unwrap_or_default()).await;
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let problem = self.guarded("didChangeConfiguration", |state| {
            if let Some(editor) = EditorSettings::from_json(&params.settings) {
                state.editor = editor;
            }
            state.rebuild_settings()
        });
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
                state.all_diagnostics()
            } else {
                Vec::new()
            }
        });
        self.publish(batch.unwrap_or_default()).await;
        if config_changed {
            let problem = self.guarded("didChangeWatchedFiles", State::rebuild_settings);
            if let Some(Some(problem)) = problem {
                self.client.show_message(MessageType::ERROR, problem).await;
            }
            self.index_workspace().await;
        }
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let plan =
            self.guarded("codeAction", |state| Self::code_actions(state, &params)).ok_or_else(Error::internal_error)?;
        let Some(CodeActionPlan { mut actions, fix_all }) = plan else { return Ok(Some(Vec::new())) };
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
}
