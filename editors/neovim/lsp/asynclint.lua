-- asynclint for Neovim 0.11+: put this folder on 'runtimepath' (or copy this file to ~/.config/nvim/lsp/), then
--   vim.lsp.enable('asynclint')
-- Override any field with vim.lsp.config('asynclint', { ... }).
---@type vim.lsp.Config
return {
  cmd = { 'asynclint', 'server' },
  filetypes = { 'python' },
  root_markers = { 'pyproject.toml', 'asynclint.toml', 'setup.py', 'setup.cfg', '.git' },
  -- Editor settings on top of the project's [tool.asynclint]: enable, select, ignore, severity, extraBlockingCalls.
  init_options = {},
}
