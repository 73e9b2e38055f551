-- asynclint for Neovim 0.7 to 0.10 (0.11+ can use lsp/asynclint.lua and vim.lsp.enable instead):
--   require('asynclint').setup({ cmd = { 'asynclint', 'server' }, init_options = { ignore = { 'AL109' } } })
-- Starts (or reuses) one asynclint server per project root for every Python buffer.
local M = {}

local defaults = {
  cmd = { 'asynclint', 'server' },
  root_markers = { 'pyproject.toml', 'asynclint.toml', 'setup.py', 'setup.cfg', '.git' },
  init_options = {},
}

-- The nearest ancestor directory of `path` holding one of the markers, else the file's own directory.
local function find_root(path, markers)
  local directory = vim.fn.fnamemodify(path, ':p:h')
  while true do
    for _, marker in ipairs(markers) do
      if vim.loop.fs_stat(directory .. '/' .. marker) then
        return directory
      end
    end
    local parent = vim.fn.fnamemodify(directory, ':h')
    if parent == directory then
      return vim.fn.fnamemodify(path, ':p:h')
    end
    directory = parent
  end
end

-- Client ids by root directory, for Neovim versions without vim.lsp.start's reuse (0.7).
local clients = {}

local function attach(options, buffer)
  local path = vim.api.nvim_buf_get_name(buffer)
  if path == '' then
    return
  end
  local root = find_root(path, options.root_markers)
  local config = {
    name = 'asynclint',
    cmd = options.cmd,
    root_dir = root,
    init_options = options.init_options,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    capabilities = vim.lsp.protocol.make_client_capabilities(),
    on_attach = options.on_attach,
  }
  if vim.lsp.start then
    vim.lsp.start(config, { bufnr = buffer })
    return
  end
  local id = clients[root]
  if not id or vim.lsp.get_client_by_id(id) == nil then
    id = vim.lsp.start_client(config)
    clients[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(buffer, id)
  end
end

function M.setup(user_options)
  local options = vim.tbl_deep_extend('force', defaults, user_options or {})
  local group = vim.api.nvim_create_augroup('asynclint', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = 'python',
    callback = function(event)
      attach(options, event.buf)
    end,
  })
end

return M
