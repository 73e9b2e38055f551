//! Findings kept per unit between analyses of an edited document, so that a keystroke re-checks the units it touched
//! (and those whose findings read them), not the whole file.
//!
//! A unit that holds only definitions (see [`unit_definitions`]) is worked out from its own text, what the module's
//! other units bind at module level, and what it asked about other such units' bodies; its findings are cached under
//! its serial (which changes whenever its text does); they are stale once a unit its text names, directly or through
//! other units' texts, has changed. Every other unit (imports, assignments, `if` blocks, and any unit that may hand a
//! function to a loop callback API) is walked in every model and makes part of the cache's key, with the names and
//! kinds the definition units bind, and the caller's context (the index and settings): when that key changes,
//! nothing is reused.
//!
//! An analysis builds a focused model that walks the units without valid findings. Whatever a rule asks about a
//! skipped unit (a local function's body, a class's attributes) makes the model record that unit, and the model is
//! built again with it walked, until nothing skipped was asked about: the walked units then get what a whole model
//! gives them. On valid and broken code alike, the result equals [`super::check::check_model`] on a whole model
//! without fixes; `tests` below and the `incremental_check` fuzz target compare the two after random edits.

use std::hash::{Hash, Hasher};

use std::hash::BuildHasher;

use foldhash::{HashMap, HashMapExt, HashSet};

use super::check::{self, ModuleInfo};
use super::diagnostic::Diagnostic;
use super::document::Document;
use super::index::ProjectIndex;
use super::semantic::{unit_definitions, SemanticModel};
use super::settings::Settings;
use super::suppressions;

/// The cached findings of one document, by unit.
#[derive(Default)]
pub struct IncrementalCheck {
    /// What the entries were worked out against.
    key: Option<u64>,
    /// The findings of each unit, by serial, valid while the key holds and no unit they may have read changed.
    entries: HashMap<u64, Vec<Diagnostic>>,
    /// The names each unit's text mentions (hashed; strings and comments included), by serial: they depend on the
    /// text alone.
    mentions: HashMap<u64, Vec<u64>>,
    /// The serials of the skipped units that the last analysis's models asked about: walked at once next time, so
    /// that one model is usually enough.
    last_demanded: Vec<u64>,
    /// How many models the last analysis built (0 when every unit's findings were reused), and how many units the
    /// last of them walked: what benchmarks report.
    pub last_models: usize,
    pub last_walked: usize,
}

/// The hash of a name, as [`mentioned_names`] gives them.
fn name_hash(name: &str) -> u64 {
    foldhash::quality::FixedState::with_seed(0).hash_one(name)
}

/// Every identifier-like word of `text`, hashed, sorted and deduplicated: a superset of the names its code uses.
fn mentioned_names(text: &str) -> Vec<u64> {
    let bytes = text.as_bytes();
    let mut names = Vec::new();
    let mut position = 0;
    while position < bytes.len() {
        let byte = bytes[position];
        if byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80 {
            let start = position;
            while position < bytes.len()
                && (bytes[position].is_ascii_alphanumeric() || bytes[position] == b'_' || bytes[position] >= 0x80)
            {
                position += 1;
            }
            // Words split at a character boundary: non-ASCII bytes never end a word.
            names.push(name_hash(&text[start..position]));
        } else if byte.is_ascii_digit() {
            while position < bytes.len() && (bytes[position].is_ascii_alphanumeric() || bytes[position] == b'_') {
                position += 1;
            }
        } else {
            position += 1;
        }
    }
    names.sort_unstable();
    names.dedup();
    names
}

impl IncrementalCheck {
    /// The findings of `document`, as [`check::check_model`] gives them on a whole model without fixes. `context`
    /// stands for everything else the findings depend on: the project index and the settings (a language server's
    /// generation). A different context, module or module-level shape discards every cached finding.
    pub fn check(
        &mut self,
        document: &Document,
        module: &ModuleInfo,
        index: &ProjectIndex,
        settings: &Settings,
        context: u64,
    ) -> Vec<Diagnostic> {
        let source = document.text();
        let units: Vec<_> = document.units().collect();
        let present: HashSet<u64> = units.iter().map(|unit| unit.serial).collect();
        self.mentions.retain(|serial, _| present.contains(serial));
        for unit in &units {
            self.mentions.entry(unit.serial).or_insert_with(|| mentioned_names(&source[unit.start..unit.end]));
        }
        // A unit that may hand a function to a loop callback API (`loop.call_soon(on_tick)`) changes how the rules
        // see that function wherever it stands, which names need not tell: such a unit is walked by every model and
        // makes part of the key, as imports do.
        let callback_words: Vec<u64> = settings.catalogue().loop_callback_words().map(name_hash).collect();
        let definitions: Vec<_> = units
            .iter()
            .map(|unit| {
                let mentions = &self.mentions[&unit.serial];
                let hands_over = callback_words.iter().any(|word| mentions.binary_search(word).is_ok());
                unit_definitions(unit.root, source).filter(|_| !hands_over)
            })
            .collect();
        let mut hasher = foldhash::quality::FixedState::with_seed(0).build_hasher();
        (context, module).hash(&mut hasher);
        for (unit, defined) in units.iter().zip(&definitions) {
            match defined {
                Some(definitions) => (0u8, definitions).hash(&mut hasher),
                None => (1u8, unit.serial).hash(&mut hasher),
            }
        }
        let key = hasher.finish();
        if self.key != Some(key) {
            self.entries.clear();
            self.key = Some(key);
        }
        self.entries.retain(|serial, _| present.contains(serial));
        // A unit's findings may read the bodies of the definition units its text names, and of those their texts
        // name, and so on: whatever a model asks about comes from a name it resolved. So the findings of a unit
        // that reaches a changed unit that way are stale: found by spreading from the changed units' names.
        let changed: Vec<usize> =
            (0..units.len()).filter(|&position| !self.entries.contains_key(&units[position].serial)).collect();
        let mut stale: HashSet<usize> = changed.iter().copied().collect();
        let mut frontier: Vec<u64> = changed
            .iter()
            .flat_map(|&position| definitions[position].iter().flatten())
            .map(|definition| name_hash(definition.name))
            .collect();
        while !frontier.is_empty() && stale.len() < units.len() {
            let mut reached = Vec::new();
            for (position, defined) in definitions.iter().enumerate() {
                if stale.contains(&position) {
                    continue;
                }
                let mentions = &self.mentions[&units[position].serial];
                if frontier.iter().any(|name| mentions.binary_search(name).is_ok()) {
                    stale.insert(position);
                    reached.extend(defined.iter().flatten().map(|definition| name_hash(definition.name)));
                }
            }
            frontier = reached;
        }
        self.last_models = 0;
        self.last_walked = 0;
        if !stale.is_empty() {
            let position_of: HashMap<u64, usize> =
                units.iter().enumerate().map(|(position, unit)| (unit.serial, position)).collect();
            let mut walked = stale.clone();
            walked.extend(self.last_demanded.iter().filter_map(|serial| position_of.get(serial)));
            let catalogue = settings.catalogue();
            let found = loop {
                let skip: Vec<_> = definitions
                    .iter()
                    .enumerate()
                    .map(|(position, defined)| defined.as_deref().filter(|_| !walked.contains(&position)))
                    .collect();
                let model = SemanticModel::build_focused(document, &module.name, module.is_package, catalogue, &skip);
                let model = check::with_module_info(model, module);
                self.last_models += 1;
                let found = check::findings_before_suppression(document, &model, index, settings);
                let demanded = model.demanded_units();
                if demanded.iter().all(|position| walked.contains(position)) {
                    break found;
                }
                walked.extend(demanded);
            };
            self.last_demanded = walked
                .iter()
                .filter(|position| !stale.contains(position))
                .map(|&position| units[position].serial)
                .collect();
            let mut by_unit: HashMap<usize, Vec<Diagnostic>> = HashMap::new();
            for mut finding in found {
                let position = units.partition_point(|unit| unit.start <= finding.range.start).saturating_sub(1);
                let start = units[position].start;
                finding.range.start -= start;
                finding.range.end -= start;
                by_unit.entry(position).or_default().push(finding);
            }
            // Every unit the model walked gets its findings afresh: the stale ones, those asked about, and those
            // that are always walked.
            for position in 0..units.len() {
                if walked.contains(&position) || definitions[position].is_none() {
                    self.last_walked += 1;
                    self.entries.insert(units[position].serial, by_unit.remove(&position).unwrap_or_default());
                }
            }
        }
        let mut diagnostics = Vec::new();
        for unit in &units {
            let Some(findings) = self.entries.get(&unit.serial) else { continue };
            diagnostics.extend(findings.iter().cloned().map(|mut finding| {
                finding.range.start += unit.start;
                finding.range.end += unit.start;
                finding
            }));
        }
        suppressions::apply(document, &mut diagnostics);
        diagnostics
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::check::{build_model, check_model, FixScope};
    use crate::core::diagnostic::TextRange;
    use crate::core::document::tests::fixture_files;

    fn whole(document: &Document, module: &ModuleInfo) -> Vec<Diagnostic> {
        let settings = Settings::default();
        let model = build_model(document, module, settings.catalogue());
        check_model(document, &model, &ProjectIndex::default(), &settings, FixScope::None)
    }

    const HELPERS: &str = "import asyncio\nimport time\n\n\ndef nap():\n    time.sleep(1)\n\n\ndef doze():\n    nap()\n\n\nclass Store:\n    def __init__(self):\n        self.path = 'x'\n\n    async def load(self):\n        return open(self.path)\n\n\nasync def main():\n    doze()\n    asyncio.create_task(work())\n    Store()\n\n\nasync def work():\n    time.sleep(2)\n";

    #[test]
    fn every_edit_gives_the_findings_of_a_whole_check() {
        let module = ModuleInfo { name: "m".to_owned(), ..ModuleInfo::default() };
        let settings = Settings::default();
        let mut document = Document::new("m.py", HELPERS);
        let mut cache = IncrementalCheck::default();
        let check = |cache: &mut IncrementalCheck, document: &Document| {
            cache.check(document, &module, &ProjectIndex::default(), &settings, 0)
        };
        assert_eq!(check(&mut cache, &document), whole(&document, &module));
        // Inside a helper's body, at the end of the file, before every unit, and breaking the syntax.
        let edits = [("time.sleep(1)", "time.sleep(1); x = 1"), ("time.sleep(2)", "await asyncio.sleep(2)")];
        for (before, after) in edits {
            let at = document.text().find(before).unwrap();
            document.edit(TextRange::new(at, at + before.len()), after);
            assert_eq!(check(&mut cache, &document), whole(&document, &module), "after {after}");
        }
        for (at, text) in [(0, "# top\n"), (document.text().len(), "\nasync def late():\n    nap()\n"), (30, "(")] {
            document.edit(TextRange::empty(at), text);
            assert_eq!(check(&mut cache, &document), whole(&document, &module), "after {text:?}");
        }
    }

    #[test]
    fn an_unchanged_document_builds_no_model_and_an_edit_walks_only_what_it_needs() {
        let module = ModuleInfo { name: "m".to_owned(), ..ModuleInfo::default() };
        let settings = Settings::default();
        let mut document = Document::new("m.py", HELPERS);
        let mut cache = IncrementalCheck::default();
        cache.check(&document, &module, &ProjectIndex::default(), &settings, 0);
        cache.check(&document, &module, &ProjectIndex::default(), &settings, 0);
        assert_eq!(cache.last_models, 0);
        let at = document.text().find("time.sleep(2)").unwrap();
        document.edit(TextRange::empty(at), "x = 1\n    ");
        let index = ProjectIndex::default();
        assert_eq!(cache.check(&document, &module, &index, &settings, 0), whole(&document, &module));
        // `work`, `main` (which names `work`) and the two imports, which every model walks; `main` then asks whether
        // `doze()` and `Store()` make coroutines, a second model walks them, and `doze` asks about `nap`.
        assert_eq!((cache.last_models, cache.last_walked), (3, 7));
        // Those asked about are walked at once next time; `main` now also asks about `work`.
        let at = document.text().find("    doze()").unwrap();
        document.edit(TextRange::empty(at), "    work()\n");
        assert_eq!(cache.check(&document, &module, &index, &settings, 0), whole(&document, &module));
        assert_eq!((cache.last_models, cache.last_walked), (2, 7));
        document.edit(TextRange::empty(at), "    pass\n");
        assert_eq!(cache.check(&document, &module, &index, &settings, 0), whole(&document, &module));
        assert_eq!((cache.last_models, cache.last_walked), (1, 7));
        // `main` names `Store`: an edit in `Store` walks both.
        let at = document.text().find("self.path = 'x'").unwrap();
        document.edit(TextRange::empty(at), "self.size = 0\n        ");
        assert_eq!(cache.check(&document, &module, &index, &settings, 0), whole(&document, &module));
    }

    /// Every fixture, then random edits of it (lines deleted, lines copied elsewhere, pieces that break the syntax):
    /// after each, the kept findings equal a whole check's.
    #[test]
    fn random_edits_of_every_fixture_give_the_findings_of_a_whole_check() {
        let pieces = ["(", "\n", "async def", ":\n", "\"\"\"", "# noqa\n", "é"];
        // Statements that change what a function's body tells its callers: whether it is a generator, whether it
        // suspends, what an attribute holds.
        let statements = [
            "    yield\n",
            "        yield\n",
            "    await asyncio.sleep(0)\n",
            "        self.client = httpx.Client()\n",
            "        self.path = Path('x')\n",
            "    return None\n",
            "    loop.call_later(1, on_done)\n",
        ];
        let mut seed: u64 = 0x1ce;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound.max(1) as u64) as usize
        };
        let module = ModuleInfo { name: "pkg.m".to_owned(), ..ModuleInfo::default() };
        let settings = Settings::default();
        let index = ProjectIndex::default();
        for file in fixture_files() {
            let text = std::fs::read_to_string(&file).unwrap();
            let mut document = Document::new("m.py", text.as_str());
            let mut cache = IncrementalCheck::default();
            assert_eq!(cache.check(&document, &module, &index, &settings, 0), whole(&document, &module));
            for _ in 0..20 {
                let starts: Vec<usize> = std::iter::once(0)
                    .chain(document.text().match_indices('\n').map(|(at, _)| at + 1))
                    .filter(|&at| at < document.text().len())
                    .collect();
                if starts.is_empty() {
                    break;
                }
                let line = |index: usize| {
                    let start = starts[index];
                    let end = document.text()[start..].find('\n').map_or(document.text().len(), |end| start + end + 1);
                    TextRange::new(start, end)
                };
                let (range, insert) = match next(4) {
                    3 => (TextRange::empty(starts[next(starts.len())]), statements[next(statements.len())].to_owned()),
                    0 => (line(next(starts.len())), String::new()),
                    1 => {
                        let copied = line(next(starts.len()));
                        let copied = document.text()[copied.start..copied.end].to_owned();
                        (TextRange::empty(starts[next(starts.len())]), copied)
                    }
                    _ => {
                        let at = line(next(starts.len()));
                        let at = at.start + next(at.end - at.start);
                        let at = (0..=at).rev().find(|&at| document.text().is_char_boundary(at)).unwrap_or(0);
                        (TextRange::empty(at), pieces[next(pieces.len())].to_owned())
                    }
                };
                document.edit(range, &insert);
                assert_eq!(
                    cache.check(&document, &module, &index, &settings, 0),
                    whole(&document, &module),
                    "{} after an edit, the text being:\n{}",
                    file.display(),
                    document.text()
                );
            }
        }
    }
}
