//! Where a keystroke's time goes in the core: parsing (incremental, and afresh as broken text is), the semantic
//! model, the rules and the summary, on a real file. Prints the median of each over N keystrokes.
//!
//! Run: `cargo run --release --example keystroke_cost -- FILE [N]`

use std::time::{Duration, Instant};

use asynclint::core::check::{check_model, FixScope};
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
    // Type at the end of the last async function's first line.
    let at = text.rfind("async def").and_then(|start| text[start..].find('\n').map(|end| start + end)).unwrap_or(0);
    let mut document = Document::new(path.clone(), text.clone());
    let (mut fresh, mut edit, mut model_times, mut rules, mut summary) = (vec![], vec![], vec![], vec![], vec![]);
    for key in 0..keystrokes {
        let started = Instant::now();
        let _ = Document::new(path.clone(), text.clone());
        fresh.push(started.elapsed());
        let started = Instant::now();
        document.edit(TextRange::empty(at + key), "x");
        edit.push(started.elapsed());
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
    println!(
        "{path}: {} lines; medians: fresh parse {:?}, incremental edit+parse {:?}, model {:?}, rules {:?}, summary {:?}",
        text.lines().count(),
        median(fresh),
        median(edit),
        median(model_times),
        median(rules),
        median(summary)
    );
}
