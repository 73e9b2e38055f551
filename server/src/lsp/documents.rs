//! Open documents as the server keeps them: the editor's text, which the handlers update at once (so the next message
//! reads positions against it), and a parsed copy that whoever needs a tree (analysis, code actions, the index
//! refresh) brings up to date from the queued changes, on the blocking pool and under the copy's own lock. No handler
//! parses, and one document's parsing never waits for another's.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use ropey::Rope;
use tower_lsp_server::ls_types as lsp;

use crate::core::check::ModuleInfo;
use crate::core::diagnostic::{Diagnostic, TextRange};
use crate::core::document::Document;
use crate::core::incremental::IncrementalCheck;
use crate::core::index::ProjectIndex;
use crate::core::positions::{offset_at, Encoding};
use crate::core::settings::Settings;

/// A change the parsed copy has not seen yet, in bytes of the text it applies to.
pub enum Change {
    Replace(String),
    Edit(TextRange, String),
}

pub struct OpenDocument {
    /// Tells this opening from an earlier one of the same URI, whose analyses may still be running.
    pub id: u64,
    pub path: String,
    /// The root of the file's project, whose index it is checked against.
    pub namespace: PathBuf,
    pub module: ModuleInfo,
    pub version: i32,
    pub too_large: bool,
    /// An analysis is queued and has not started: it will see any change made until then, so none other is needed.
    pub queued: bool,
    /// The version and analysis generation last published.
    pub analysed: Option<(i32, u64)>,
    /// For a client that pulls diagnostics: what the analysis `analysed` found, which a pull of that version and
    /// generation answers without analysing again.
    pub found: Option<Vec<lsp::Diagnostic>>,
    /// For a client that pulls diagnostics: the generation its last pull of this document was answered for. An
    /// analysis for a newer one (the index changed) means its diagnostics may be stale, and it is asked to pull again.
    pub pulled: Option<u64>,
    /// The next analysis puts the file's summary into the index at once: an opened file counts for the others, and
    /// so does every open file after the workspace is indexed again (with settings that may have changed).
    pub record_summary: bool,
    text: String,
    rope: Rope,
    pending: Vec<Change>,
    parsed: Arc<Mutex<Parsed>>,
}

impl OpenDocument {
    /// An opened document at `path`, named `module` in the project rooted at `namespace`.
    pub fn new(
        id: u64,
        path: String,
        (namespace, module): (PathBuf, ModuleInfo),
        version: i32,
        text: String,
        too_large: bool,
    ) -> Self {
        OpenDocument {
            id,
            path,
            namespace,
            module,
            version,
            too_large,
            queued: false,
            analysed: None,
            found: None,
            pulled: None,
            record_summary: !too_large,
            rope: Rope::from_str(&text),
            pending: vec![Change::Replace(text.clone())],
            text,
            parsed: Arc::new(Mutex::new(Parsed { document: None, findings: IncrementalCheck::default() })),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Applies one content change of `didChange` to the editor's text and queues it for the parsed copy.
    pub fn change(&mut self, range: Option<lsp::Range>, new_text: String, encoding: Encoding) {
        let Some(range) = range else {
            self.rope = Rope::from_str(&new_text);
            self.text.clone_from(&new_text);
            self.pending.push(Change::Replace(new_text));
            return;
        };
        let offset =
            |position: lsp::Position| offset_at(&self.rope, &self.text, position.line, position.character, encoding);
        let start = offset(range.start);
        let end = offset(range.end).max(start);
        let start_char = self.rope.byte_to_char(start);
        self.rope.remove(start_char..self.rope.byte_to_char(end));
        self.rope.insert(start_char, &new_text);
        self.text.replace_range(start..end, &new_text);
        self.pending.push(Change::Edit(TextRange::new(start, end), new_text));
    }

    /// The parsed copy, to lock before [`Self::take_pending`] so that changes reach it in order.
    pub fn parsed(&self) -> Arc<Mutex<Parsed>> {
        self.parsed.clone()
    }

    /// The changes queued since the last call, for the holder of the parsed copy's lock; the whole text instead when
    /// the copy is empty (rebuilt after a panic).
    pub fn take_pending(&mut self, parsed: &Parsed) -> Vec<Change> {
        let changes = std::mem::take(&mut self.pending);
        if parsed.document.is_none() && !matches!(changes.first(), Some(Change::Replace(_))) {
            return vec![Change::Replace(self.text.clone())];
        }
        changes
    }
}

/// The parsed copy: `None` until the first change (the opening text) reaches it.
pub struct Parsed {
    document: Option<Document>,
    /// The findings of the document's units, kept between analyses: an edit re-checks what it touched.
    findings: IncrementalCheck,
}

impl Parsed {
    /// Applies `changes` and returns the document (None before its opening text); an edit re-parses incrementally.
    pub fn catch_up(&mut self, path: &str, changes: Vec<Change>) -> Option<&Document> {
        for change in changes {
            match (change, &mut self.document) {
                (Change::Replace(text), Some(document)) => document.set_text(text),
                (Change::Replace(text), None) => self.document = Some(Document::new(path, text)),
                (Change::Edit(range, text), Some(document)) => document.edit(range, &text),
                // Not reached: `take_pending` starts an empty copy with the whole text.
                (Change::Edit(..), None) => {}
            }
        }
        self.document.as_ref()
    }

    /// The document as it stands: None before its opening text.
    pub fn document(&self) -> Option<&Document> {
        self.document.as_ref()
    }

    /// The findings of the document as it stands (None before its opening text), re-checking only the units that
    /// changed since the last call and those whose findings read them. `context` changes whenever the index or the
    /// settings do.
    pub fn check(
        &mut self,
        module: &ModuleInfo,
        index: &ProjectIndex,
        settings: &Settings,
        context: u64,
    ) -> Option<(&Document, Vec<Diagnostic>)> {
        let document = self.document.as_ref()?;
        Some((document, self.findings.check(document, module, index, settings, context)))
    }
}

/// Locks a parsed copy. After a panic while it was held (reported already), the copy may be half edited: it is
/// emptied, and rebuilt from the editor's text by the next [`OpenDocument::take_pending`].
pub fn lock(parsed: &Mutex<Parsed>) -> MutexGuard<'_, Parsed> {
    parsed.lock().unwrap_or_else(|poisoned| {
        parsed.clear_poison();
        let mut guard = poisoned.into_inner();
        guard.document = None;
        guard
    })
}
