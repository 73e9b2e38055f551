//! The Zed extension: registers `asynclint server` as a language server for Python, found on the worktree's PATH,
//! with the `initialization_options` from the user's `lsp.asynclint` settings.

use zed_extension_api::{self as zed, settings::LspSettings, LanguageServerId, Result, Worktree};

struct Asynclint;

impl zed::Extension for Asynclint {
    fn new() -> Self {
        Asynclint
    }

    fn language_server_command(&mut self, _id: &LanguageServerId, worktree: &Worktree) -> Result<zed::Command> {
        let configured = LspSettings::for_worktree("asynclint", worktree).ok().and_then(|settings| settings.binary);
        let path = configured
            .as_ref()
            .and_then(|binary| binary.path.clone())
            .or_else(|| worktree.which("asynclint"))
            .ok_or("asynclint is not on PATH: install it (`pip install asynclint` or `cargo install`) or set lsp.asynclint.binary.path")?;
        let args = configured.and_then(|binary| binary.arguments).unwrap_or_else(|| vec!["server".to_owned()]);
        Ok(zed::Command { command: path, args, env: worktree.shell_env() })
    }

    fn language_server_initialization_options(
        &mut self,
        _id: &LanguageServerId,
        worktree: &Worktree,
    ) -> Result<Option<zed::serde_json::Value>> {
        Ok(LspSettings::for_worktree("asynclint", worktree).ok().and_then(|settings| settings.initialization_options))
    }
}

zed::register_extension!(Asynclint);
