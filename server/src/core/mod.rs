//! The analysis core: text in, diagnostics out. Nothing in here touches the filesystem, stdout or the network.
pub mod catalogue;
pub mod check;
pub mod concurrency;
pub mod dependencies;
pub mod diagnostic;
pub mod document;
pub mod fix;
pub mod incremental;
pub mod index;
pub mod lifecycle;
pub mod on_loop;
mod parser_allocator;
pub mod positions;
pub mod reach;
pub mod rules;
pub mod semantic;
pub mod settings;
pub mod summary;
pub mod suppressions;
pub mod syntax;
pub mod units;

pub use check::check;
pub use diagnostic::{Applicability, Diagnostic, Edit, Fix, Related, Severity, TextRange};
pub use document::Document;
pub use index::ProjectIndex;
pub use settings::Settings;
