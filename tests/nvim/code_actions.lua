-- Neovim's built-in LSP client against `coding-director serve`: list the code actions of a
-- selection, run Fix (codeAction/resolve + apply_workspace_edit), Explain and Generate tests
-- (workspace/executeCommand; the server answers with window/showDocument, which Neovim opens).
-- Input: a JSON file named by $CD_NVIM_INPUT; output: a JSON report written to $CD_NVIM_OUTPUT.
local input = vim.json.decode(io.open(os.getenv("CD_NVIM_INPUT")):read("*a"))
local report = { steps = {} }

local function finish(ok)
  report.ok = ok
  local out = io.open(os.getenv("CD_NVIM_OUTPUT"), "w")
  out:write(vim.json.encode(report))
  out:close()
  vim.cmd(ok and "qa!" or "cquit!")
end

local function step(name, value)
  table.insert(report.steps, name)
  report[name] = value
end

local function run()
  vim.cmd.edit(vim.fn.fnameescape(input.file))
  local bufnr = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start({
    name = "coding-director",
    cmd = input.cmd,
    root_dir = input.root,
  }, { bufnr = bufnr })
  assert(client_id, "vim.lsp.start failed")
  local client = vim.lsp.get_client_by_id(client_id)
  assert(vim.wait(20000, function() return client.initialized end, 50), "server did not initialize")
  step("initialized", true)

  local function actions(range)
    local params = {
      textDocument = { uri = vim.uri_from_bufnr(bufnr) },
      range = range,
      context = { diagnostics = {} },
    }
    local response = client:request_sync("textDocument/codeAction", params, 20000, bufnr)
    assert(response and not response.err, "codeAction failed: " .. vim.inspect(response))
    local by_title = {}
    for _, action in ipairs(response.result or {}) do
      by_title[action.title:match("^(%S+)")] = action
    end
    return response.result, by_title
  end

  -- Fix the broken function: resolve the edit and apply it as Neovim's code-action menu does.
  local listed, by_title = actions(input.fix_range)
  local titles = {}
  for _, action in ipairs(listed) do table.insert(titles, action.title) end
  step("titles", titles)
  local resolved = client:request_sync("codeAction/resolve", by_title["Fix"], 60000, bufnr)
  assert(resolved and not resolved.err, "resolve failed: " .. vim.inspect(resolved))
  vim.lsp.util.apply_workspace_edit(resolved.result.edit, client.offset_encoding)
  step("fixed_text", table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n") .. "\n")

  -- Explain and Generate tests: their command runs on the server (workspace/executeCommand).
  local function run_command(word)
    local _, now = actions(input.explain_range)
    local command = now[word].command
    local before = #vim.api.nvim_list_bufs()
    local response = client:request_sync(
      "workspace/executeCommand", { command = command.command, arguments = command.arguments }, 60000, bufnr
    )
    assert(response and not response.err, word .. " failed: " .. vim.inspect(response))
    -- window/showDocument opened the answer in a new buffer.
    assert(vim.wait(10000, function() return #vim.api.nvim_list_bufs() > before end, 50), "no document shown")
    local shown = vim.api.nvim_get_current_buf()
    return {
      command = command.command,
      answer = response.result.answer,
      document = vim.api.nvim_buf_get_name(shown),
      text = table.concat(vim.api.nvim_buf_get_lines(shown, 0, -1, false), "\n"),
    }
  end
  step("explain", run_command("Explain"))
  vim.cmd.buffer(bufnr)
  step("tests", run_command("Generate"))
  client:stop()
  vim.wait(5000, function() return client:is_stopped() end, 50)
end

local ok, err = pcall(run)
if not ok then report.error = tostring(err) end
finish(ok)
