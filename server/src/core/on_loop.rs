//! Sync code that runs on the event loop by contract: functions that a catalogue decorator marks (Home Assistant's
//! `@callback`), and functions or lambdas handed to a loop's callback APIs (`call_soon`, `call_later`,
//! `add_done_callback`, `add_signal_handler`, `add_reader`, ...). The AL1 rules treat their bodies as they treat an
//! `async def`'s: a blocking call there holds the loop just the same.
//!
//! What is handed over is resolved, not matched by name: a function of this file (module-level, nested, or a method
//! through `self.method`), a lambda written in place, or either inside `functools.partial(...)`. A generator function
//! is never one: calling it runs none of its body.

use tree_sitter::Node;

use super::catalogue::{BlockingEntry, LoopCallback};
use super::diagnostic::{Related, TextRange};
use super::document::Document;
use super::semantic::{CallSite, Resolved, Scope, ScopeId, ScopeKind, SemanticModel, MODULE_SCOPE};
use super::syntax::{self, KindName};

/// What messages advise in sync code on the loop, where no `await` can be added.
pub const SYNC_ADVICE: &str = "hand the work to a worker thread, or to a task";

/// How deep `functools.partial(functools.partial(f, a), b)` is unwrapped.
const MAX_PARTIAL_DEPTH: u32 = 4;

/// Why a sync function or lambda runs on the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnLoop {
    /// A catalogue decorator marks it (the decorator's qualified name).
    Decorated { decorator: String },
    /// A loop API is handed it: the API as written (`loop.call_soon`) and the call that hands it over.
    Callback { api: String, site: TextRange, ready_io: bool },
}

/// Where code that runs on the loop stands.
#[derive(Debug, Clone, Copy)]
pub enum Context<'m> {
    Async,
    Sync(&'m OnLoop),
}

impl Context<'_> {
    pub fn is_async(self) -> bool {
        matches!(self, Context::Async)
    }

    /// How a message names the code: "async function `f`", "`on_done`, a callback that `task.add_done_callback`
    /// runs on the event loop".
    pub fn describe(self, scope: &Scope) -> String {
        match self {
            Context::Async => format!("async function `{}`", scope.name),
            Context::Sync(OnLoop::Decorated { decorator }) => {
                format!("`{}`, which `@{decorator}` marks as running on the event loop", scope.name)
            }
            Context::Sync(OnLoop::Callback { api, .. }) if scope.kind == ScopeKind::Lambda => {
                format!("a lambda that `{api}` runs on the event loop")
            }
            Context::Sync(OnLoop::Callback { api, .. }) => {
                format!("`{}`, a callback that `{api}` runs on the event loop", scope.name)
            }
        }
    }

    /// The call that hands the code to the loop, as a related location.
    pub fn related(self, document: &Document, scope: &Scope) -> Option<Related> {
        let Context::Sync(OnLoop::Callback { api, site, .. }) = self else { return None };
        let what = match scope.kind {
            ScopeKind::Lambda => "this lambda".to_owned(),
            _ => format!("`{}`", scope.name),
        };
        Some(Related {
            file: document.path.clone(),
            span: document.span(*site),
            message: format!("`{api}` runs {what} on the event loop"),
        })
    }

    /// Whether the blocking call cannot wait here: in a callback that the loop runs when a descriptor is ready
    /// (`add_reader`), reading or writing it returns at once. Sockets, standard input and file objects count
    /// (a file on disk cannot be registered, so such a file object is a pipe or a terminal); other blocking calls,
    /// a sleep or an HTTP request, still hold the loop.
    pub fn exempts(self, entry: &BlockingEntry) -> bool {
        let ready_io = matches!(self, Context::Sync(OnLoop::Callback { ready_io: true, .. }));
        ready_io && (matches!(entry.rule.code, "AL105" | "AL107") || entry.name.starts_with("io."))
    }
}

/// Why each scope of the model runs on the loop, by scope id (`None` for scopes that are not sync code on the loop).
pub fn find(model: &SemanticModel) -> Vec<Option<OnLoop>> {
    let catalogue = model.catalogue();
    let mut found: Vec<Option<OnLoop>> = vec![None; model.scopes.len()];
    for (id, scope) in model.scopes.iter().enumerate() {
        if !scope.is_sync_function() || scope.is_generator {
            continue;
        }
        let parent = scope.parent.unwrap_or(MODULE_SCOPE);
        found[id] = scope.decorators.iter().find_map(|decorator| {
            let expression = match decorator.kind_name() {
                "call" => decorator.child_by_field_id(syntax::fields().function)?,
                _ => *decorator,
            };
            match model.resolve(expression, parent) {
                Resolved::Path(path) if catalogue.is_loop_decorator(&path) => {
                    Some(OnLoop::Decorated { decorator: path })
                }
                _ => None,
            }
        });
    }
    for call in &model.calls {
        let Some(callback) = callback_api(model, call) else { continue };
        let Some(argument) = positional_argument(call.node, callback.argument) else { continue };
        let Some(target) = handed_over(model, argument, call.scope, 0) else { continue };
        if found[target].is_none() {
            let written = syntax::callee_text(call.node, model.source);
            let api = match syntax::quotable(&written) {
                Some(written) => written.to_owned(),
                None => written.rsplit('.').next().unwrap_or_default().to_owned(),
            };
            found[target] = Some(OnLoop::Callback { api, site: syntax::range(call.node), ready_io: callback.ready_io });
        }
    }
    found
}

/// The catalogue's word on a call that may hand a callback to the loop: by its qualified name, else, for a method
/// on a receiver of unknown type, by what made the receiver (an asyncio future) or by the method's name alone.
fn callback_api(model: &SemanticModel, call: &CallSite) -> Option<LoopCallback> {
    let catalogue = model.catalogue();
    if let Some(found) = model.callee_path(call).and_then(|path| catalogue.loop_callback(&path)) {
        return Some(found);
    }
    let fields = syntax::fields();
    let function =
        call.node.child_by_field_id(fields.function).filter(|function| function.kind_name() == "attribute")?;
    let object = function.child_by_field_id(fields.object)?;
    let method = model.text(function.child_by_field_id(fields.attribute)?);
    if model.resolve(object, call.scope) != Resolved::Unknown {
        return None;
    }
    match model.made_by(object, call.scope) {
        Some(maker) if catalogue.makes_future(&maker) => catalogue.loop_callback(&format!("asyncio.Future.{method}")),
        _ => catalogue.loop_callback_method(method),
    }
}

/// The positional argument at `position` (keyword arguments aside); `None` once a `*args` comes first.
fn positional_argument(call: Node, position: usize) -> Option<Node> {
    let arguments = call.child_by_field_id(syntax::fields().arguments)?;
    let mut positional = syntax::named_children(arguments)
        .filter(|argument| !matches!(argument.kind_name(), "comment" | "keyword_argument" | "dictionary_splat"));
    let argument = positional.nth(position)?;
    (argument.kind_name() != "list_splat").then_some(argument)
}

/// The scope of the sync function or lambda that `argument` hands over, when this file defines it.
fn handed_over(model: &SemanticModel, argument: Node, scope: ScopeId, depth: u32) -> Option<ScopeId> {
    match argument.kind_name() {
        "lambda" => model
            .scopes
            .iter()
            .position(|candidate| candidate.kind == ScopeKind::Lambda && candidate.node == Some(argument)),
        // `functools.partial(f, x)` runs `f`.
        "call" if depth < MAX_PARTIAL_DEPTH => {
            let function = argument.child_by_field_id(syntax::fields().function)?;
            match model.resolve(function, scope) {
                Resolved::Path(path) if path == "functools.partial" => {
                    handed_over(model, syntax::first_positional_argument(argument)?, scope, depth + 1)
                }
                _ => None,
            }
        }
        "identifier" | "attribute" => {
            let Resolved::Path(path) = model.resolve(argument, scope) else { return None };
            let id = model.scope_named(&path)?;
            let target = model.scope(id);
            (target.is_sync_function() && !target.is_generator).then_some(id)
        }
        _ => None,
    }
}
