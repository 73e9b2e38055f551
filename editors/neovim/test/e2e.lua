-- Headless end-to-end test: open a fixture, wait for asynclint's diagnostic, request code actions, apply the quick
-- fix, save, and check the file on disk. Run by test/run.sh as
--   nvim --headless --clean -c 'luafile test/e2e.lua'
-- with ASYNCLINT_BIN (the server binary), ASYNCLINT_FILE (a copy of the fixture) and ASYNCLINT_MODE ('enable' for
-- lsp/asynclint.lua with vim.lsp.enable on 0.11+, 'setup' for require('asynclint').setup).
local function fail(message)
  io.stderr:write('FAIL: ' .. message .. '\n')
  vim.cmd('cquit 1')
end

local ok, error_message = pcall(function()
  local binary = assert(os.getenv('ASYNCLINT_BIN'), 'ASYNCLINT_BIN is not set')
  local file = assert(os.getenv('ASYNCLINT_FILE'), 'ASYNCLINT_FILE is not set')
  local mode = os.getenv('ASYNCLINT_MODE') or 'setup'
  local plugin = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h')
  vim.opt.runtimepath:prepend(plugin)
  vim.cmd('filetype on')

  if mode == 'enable' then
    vim.lsp.config('asynclint', { cmd = { binary, 'server' } })
    vim.lsp.enable('asynclint')
  else
    require('asynclint').setup({ cmd = { binary, 'server' } })
  end

  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local buffer = vim.api.nvim_get_current_buf()
  local code_of = function(diagnostic)
    return diagnostic.code or (diagnostic.user_data and diagnostic.user_data.lsp and diagnostic.user_data.lsp.code)
  end
  local found = vim.wait(30000, function()
    for _, diagnostic in ipairs(vim.diagnostic.get(buffer)) do
      if code_of(diagnostic) == 'AL101' then
        return true
      end
    end
    return false
  end, 50)
  if not found then
    return fail('no AL101 diagnostic within 30 s; got ' .. vim.inspect(vim.diagnostic.get(buffer)))
  end
  local diagnostic = vim.diagnostic.get(buffer)[1]

  local client = (vim.lsp.get_clients or vim.lsp.get_active_clients)({ bufnr = buffer })[1]
  local position = { line = diagnostic.lnum, character = diagnostic.col }
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buffer) },
    range = { start = position, ['end'] = position },
    context = { diagnostics = {} },
  }
  local responses = vim.lsp.buf_request_sync(buffer, 'textDocument/codeAction', params, 10000) or {}
  local chosen
  for _, response in pairs(responses) do
    for _, action in ipairs(response.result or {}) do
      if action.isPreferred and action.edit then
        chosen = action
      end
    end
  end
  if not chosen then
    return fail('no preferred quick fix among ' .. vim.inspect(responses))
  end
  vim.lsp.util.apply_workspace_edit(chosen.edit, client.offset_encoding)
  vim.cmd('silent write')

  local saved = table.concat(vim.fn.readfile(file), '\n')
  if not saved:find('await asyncio.sleep(1)', 1, true) or not saved:find('import asyncio', 1, true) then
    return fail('the file on disk was not fixed:\n' .. saved)
  end
  print('PASS: ' .. vim.version().major .. '.' .. vim.version().minor .. ' ' .. mode .. ': ' .. chosen.title)
  vim.cmd('qall!')
end)
if not ok then
  fail(tostring(error_message))
end
