//! The direct blocking-call rules (AL101-AL109): one check drives them all from the catalogue; each rule's own file
//! holds its metadata and doc.

pub mod cpu_heavy;
pub mod db;
pub mod file_io;
pub mod http;
pub mod input;
pub mod nested_event_loop;
pub mod sleep;
pub mod socket;
pub mod subprocess;

use crate::core::catalogue::Catalogue;
use crate::core::check::Checker;
use crate::core::diagnostic::{Applicability, Diagnostic};
use crate::core::fix;
use crate::core::on_loop;
use crate::core::semantic::{CallSite, Resolved, SemanticModel};
use crate::core::summary::blocking_entry;
use crate::core::syntax::{self, KindName};

pub fn check(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    let model = checker.model;
    let catalogue = checker.settings.catalogue();
    for call in &model.calls {
        if call.awaited {
            continue;
        }
        let Some(context) = model.loop_context(call.scope) else { continue };
        let callee = model.callee_path(call);
        let Some(entry) = blocking_entry(model, call, callee.as_deref(), catalogue) else {
            continue;
        };
        if !checker.enabled(entry.rule)
            || receiver_made_by_blocking_call(model, call, catalogue)
            || context.exempts(entry)
        {
            continue;
        }
        let scope = model.scope(call.scope);
        let written = syntax::callee_text(call.node, model.source);
        let alias_note = match syntax::quotable(&written) {
            Some(written) if written != entry.name && !entry.name.starts_with("*.") => {
                format!(" (called as `{written}`)")
            }
            _ => String::new(),
        };
        let shown_name = entry.name.strip_prefix("*.").map_or(entry.name.as_str(), |_| written.as_str());
        let advice = match (&entry.replacement, entry.drop_in) {
            _ if !context.is_async() => format!("; {}", on_loop::SYNC_ADVICE),
            (Some(replacement), true) => format!("; use `await {}(...)`", fix::library_form(model, replacement)),
            (Some(replacement), false) => format!("; use {}", fix::library_advice(model, replacement)),
            (None, _) => String::new(),
        };
        let message = format!(
            "`{shown_name}`{alias_note} blocks the event loop in {}: it {}{advice}",
            context.describe(scope),
            entry.reason
        );
        let mut diagnostic = checker.diagnostic(entry.rule, syntax::range(call.node), message);
        let document = checker.document;
        diagnostic.related.extend(context.related(document, scope));
        // A lazy iterator does its work where it is iterated: running only the call in a thread would move nothing.
        // Sync code on the loop has no `await` to add: a rewrite would have to turn the callback into a task.
        if entry.lazy || !context.is_async() {
            diagnostics.push(diagnostic);
            continue;
        }
        checker.offer(&mut diagnostic, || match (&entry.replacement, entry.drop_in) {
            (Some(replacement), true) => fix::drop_in_fix(document, model, call, replacement, Applicability::Safe),
            _ if entry.rule.code == nested_event_loop::RULE.code => {
                fix::await_argument_fix(model, call, Applicability::Unsafe)
            }
            _ => fix::offload_fix(document, model, call, checker.settings),
        });
        diagnostics.push(diagnostic);
    }
    check_iterations(checker, diagnostics);
}

/// `for line in f` and `[line for line in f]` in an async function, where `f` is an instance whose type's
/// `__iter__` the catalogue lists as blocking (a file object): each step reads the file on the loop's thread. No fix:
/// the loop's body would have to move with it.
fn check_iterations(checker: &Checker, diagnostics: &mut Vec<Diagnostic>) {
    let model = checker.model;
    let catalogue = checker.settings.catalogue();
    for &(scope, iterable) in &model.iterated {
        let function = model.scope(scope);
        let Some(context) = model.loop_context(scope) else { continue };
        let Resolved::Instance(type_name) = model.resolve(iterable, scope) else { continue };
        let Some(entry) = catalogue.lookup(&format!("{type_name}.__iter__")) else { continue };
        if !checker.enabled(entry.rule) || context.exempts(entry) {
            continue;
        }
        let written = model.text(iterable).split_whitespace().collect::<Vec<_>>().join(" ");
        let shown = syntax::quotable(&written).map_or_else(|| "a file object".to_owned(), |name| format!("`{name}`"));
        let advice = match &entry.replacement {
            _ if !context.is_async() => format!("; {}", on_loop::SYNC_ADVICE),
            Some(replacement) => format!("; use {}", fix::library_advice(model, replacement)),
            None => String::new(),
        };
        let message = format!(
            "iterating {shown} (`{type_name}`) blocks the event loop in {}: it {}{advice}",
            context.describe(function),
            entry.reason,
        );
        let mut diagnostic = checker.diagnostic(entry.rule, syntax::range(iterable), message);
        diagnostic.related.extend(context.related(checker.document, function));
        diagnostics.push(diagnostic);
    }
}

/// `open(path).read()`: the call that made the receiver is reported, on the same expression, and one finding says
/// it; a second one for the method would offer a fix that leaves `open` on the loop.
fn receiver_made_by_blocking_call(model: &SemanticModel, call: &CallSite, catalogue: &Catalogue) -> bool {
    let fields = syntax::fields();
    let Some(receiver) = call
        .node
        .child_by_field_id(fields.function)
        .filter(|function| function.kind_name() == "attribute")
        .and_then(|function| function.child_by_field_id(fields.object))
        .filter(|object| object.kind_name() == "call")
    else {
        return false;
    };
    model
        .calls_within(receiver)
        .iter()
        .find(|inner| inner.node.id() == receiver.id())
        .is_some_and(|inner| blocking_entry(model, inner, model.callee_path(inner).as_deref(), catalogue).is_some())
}
