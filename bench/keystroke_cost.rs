//! Where a keystroke's time goes in the core: parsing (incremental, and afresh as broken text is), the semantic
//! model, the rules and the summary of the whole file, and the check that re-checks only the units the keystroke
//! touched (what the language server runs), on a real file. Prints the median of each over N keystrokes, and the
//! 95th percentile of the unit-wise check.
//!
//! Run: `cargo run --release --example keystroke_cost -- FILE [N]`

use std::time::{Duration, Instant};

use asynclint::core::check::{check_model, FixScope, ModuleInfo};
use asynclint::core::incremental::IncrementalCheck;
use asynclint::core::semantic::SemanticModel;
use asynclint::core::summary::summarize;
use asynclint::core::{Document, ProjectIndex, Settings, TextRange};

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let mut arguments = std::env::args().skip(1);
    let path = arguments.next().expect("FILE");
    let keystrokes: usize = arguments.next().and_then(|n| n.parse().ok()).unwrap_or(50);
    let text = std::fs::read_to_string(&path).expect("a readable file");
    let settings = Settings::default();
    let index = ProjectIndex::default();
    let catalogue = settings.catalogue();
    // Type at the end of the last async function's first line (of the last function's, in a file without one).
    let at = text
        .rfind("async def")
        .or_else(|| text.rfind("    def "))
        .and_then(|start| text[start..].find('\n').map(|end| start + end))
        .unwrap_or(0);
    let mut document = Document::new(path.clone(), text.clone());
    let (mut fresh, mut edit, mut model_times, mut rules, mut summary) = (vec![], vec![], vec![], vec![], vec![]);
    let mut unit_wise = vec![];
    let module = ModuleInfo { name: "m".to_owned(), ..ModuleInfo::default() };
    let mut cache = IncrementalCheck::default();
    cache.check(&document, &module, &index, &settings, 0);
    for key in 0..keystrokes {
        let started = Instant::now();
        let _ = Document::new(path.clone(), text.clone());
        fresh.push(started.elapsed());
        let started = Instant::now();
        document.edit(TextRange::empty(at + key), "x");
        edit.push(started.elapsed());
        let started = Instant::now();
        std::hint::black_box(cache.check(&document, &module, &index, &settings, 0));
        unit_wise.push(started.elapsed());
        let started = Instant::now();
        let model = SemanticModel::build(&document, "m", false, catalogue);
        model_times.push(started.elapsed());
        let started = Instant::now();
        let found = check_model(&document, &model, &index, &settings, FixScope::None);
        rules.push(started.elapsed());
        let started = Instant::now();
        let _ = summarize(&document, &model, catalogue);
        summary.push(started.elapsed());
        std::hint::black_box(found);
    }
    let mut sorted = unit_wise.clone();
    sorted.sort();
    let p95 = sorted[(sorted.len() - 1) * 95 / 100];
    println!(
        "{path}: {} lines; medians: fresh parse {:?}, incremental edit+parse {:?}, model {:?}, rules {:?}, summary {:?}, \
         unit-wise check {:?} (p95 {p95:?}, last walked {} units in {} models)",
        text.lines().count(),
        median(fresh),
        median(edit),
        median(model_times),
        median(rules),
        median(summary),
        median(unit_wise),
        cache.last_walked,
        cache.last_models
    );
}
