//! The command-line front end: argument parsing, `check`, `rule`, exit codes. The only layer that prints.

mod output;
pub mod run;
mod sarif;

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::core::rules;
use crate::core::settings::{self, Settings};
use crate::environment::{self, Environment};
use crate::workspace;

use output::{OutputFormat, Style};
use run::{FixMode, FixOutput, RunOptions};

#[derive(Parser)]
#[command(name = "asynclint", version, about = "Finds the mistakes that quietly break Python asyncio programs.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check Python files, Jupyter notebooks or directories (default: the current directory).
    Check(Box<CheckArgs>),
    /// Serve the Language Server Protocol on stdin/stdout, for editors.
    Server,
    /// Print a rule's documentation (by code or name), or list all rules.
    Rule {
        /// A code such as AL101 or a name such as blocking-sleep. Omit to list every rule.
        rule: Option<String>,
    },
}

#[derive(Args)]
struct CheckArgs {
    /// Files or directories to check.
    paths: Vec<PathBuf>,
    /// How to print findings.
    #[arg(long, value_enum, default_value = "full")]
    output_format: OutputFormat,
    /// Apply safe fixes, writing files in place.
    #[arg(long)]
    fix: bool,
    /// With --fix, also apply unsafe fixes; alone, show them as available.
    #[arg(long)]
    unsafe_fixes: bool,
    /// Rules to enable, replacing the configured set: codes (AL101), prefixes (AL1), names, or ALL.
    #[arg(long, value_delimiter = ',')]
    select: Option<Vec<String>>,
    /// Rules to add to the enabled set.
    #[arg(long, value_delimiter = ',')]
    extend_select: Vec<String>,
    /// Rules to disable.
    #[arg(long, value_delimiter = ',')]
    ignore: Vec<String>,
    /// The Python version the code targets (py38, py311, ...); default from the config or `requires-python`.
    #[arg(long)]
    target_version: Option<String>,
    /// Use this config file instead of discovering `asynclint.toml` / `pyproject.toml`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Exit 0 even when there are findings.
    #[arg(long)]
    exit_zero: bool,
    /// Add a `# noqa` for every current finding to its line, instead of reporting (a way to adopt asynclint in a
    /// large codebase and fix the rest over time).
    #[arg(long, conflicts_with_all = ["fix", "diff"])]
    add_noqa: bool,
    /// With --fix, list the fixes applied per file and rule.
    #[arg(long)]
    show_fixes: bool,
    /// Print what fixing would change as a unified diff, without writing; exit 1 when something would change.
    #[arg(long)]
    diff: bool,
    /// Print how many findings each rule has, instead of the findings.
    #[arg(long)]
    statistics: bool,
    /// Print the findings only, without the summary.
    #[arg(long, short)]
    quiet: bool,
    /// With the path `-`: the name of the file whose source comes on standard input.
    #[arg(long)]
    stdin_filename: Option<PathBuf>,
    /// Analyse every file afresh, without reading or writing the cache.
    #[arg(long)]
    no_cache: bool,
    /// Where to keep the cache (default: `.asynclint_cache` in the project root; also `ASYNCLINT_CACHE_DIR` or the
    /// `cache-dir` setting).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Tell which files changed since the last run by reading and hashing them all, not by their size, times and
    /// inode (for file systems whose timestamps cannot be trusted).
    #[arg(long)]
    hash_files: bool,
    /// The Python environment (a virtual environment, or its `site-packages`) whose installed dependencies blocking
    /// chains are followed into, when neither `$VIRTUAL_ENV` nor `.venv`/`venv` in the project root is one.
    #[arg(long)]
    python_environment: Option<PathBuf>,
    /// Do not follow calls into installed dependencies.
    #[arg(long)]
    no_follow_dependencies: bool,
    /// Say on standard error which environment's dependencies were followed, and how many of their modules were
    /// parsed or taken from the cache.
    #[arg(long, short)]
    verbose: bool,
}

/// Exit statuses: 0 clean, 1 findings, 2 usage, config or I/O errors.
const EXIT_FINDINGS: u8 = 1;
const EXIT_ERROR: u8 = 2;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let failed = error.use_stderr();
            let _ = error.print();
            return if failed { ExitCode::from(EXIT_ERROR) } else { ExitCode::SUCCESS };
        }
    };
    let result = match cli.command {
        Command::Check(arguments) => run_check(*arguments),
        Command::Rule { rule } => print_rule(rule.as_deref()),
        Command::Server => return crate::lsp::run_stdio(),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("asynclint: error: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn print_rule(rule: Option<&str>) -> Result<ExitCode, String> {
    let mut out = BufWriter::new(io::stdout().lock());
    let write_failed = |error: io::Error| error.to_string();
    match rule {
        Some(name) => {
            let rule = rules::find(name).ok_or_else(|| format!("no rule named `{name}` (see `asynclint rule`)"))?;
            write!(out, "{}", rule.explanation()).map_err(write_failed)?;
        }
        None => {
            for rule in rules::ALL {
                writeln!(out, "{}  {:<26} {}", rule.code, rule.name, rule.summary).map_err(write_failed)?;
            }
        }
    }
    out.flush().map_err(write_failed)?;
    Ok(ExitCode::SUCCESS)
}

fn run_check(arguments: CheckArgs) -> Result<ExitCode, String> {
    let stdin = read_stdin_source(&arguments)?;
    let paths = match &stdin {
        Some((path, _)) => vec![path.clone()],
        None if arguments.paths.is_empty() => vec![PathBuf::from(".")],
        None => arguments.paths.clone(),
    };
    // Absolute, symlink-free paths, so that a file reached from the argument and from the project walk is one file.
    let paths = match &stdin {
        Some(_) => paths,
        None => paths
            .iter()
            .map(|path| path.canonicalize().map_err(|error| format!("{}: {error}", path.display())))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let root = workspace::project_root(&paths[0]);
    let loaded = workspace::load_config(arguments.config.as_deref(), &paths[0])?;
    let config_name =
        loaded.path.as_ref().map(|path| path.display().to_string()).unwrap_or_else(|| "the command line".to_owned());
    let mut config = loaded.config;
    if let Some(version) = &arguments.target_version {
        config.target_version = Some(version.clone());
    }
    let mut settings = Settings::from_config(&config).map_err(|error| format!("{config_name}: {error}"))?;
    settings
        .apply_selection(arguments.select.as_deref(), &arguments.extend_select, &arguments.ignore)
        .map_err(|error| error.to_string())?;
    if let Some(version) = &arguments.target_version {
        settings.target_version = settings::parse_target_version(version)
            .ok_or_else(|| format!("`--target-version {version}` is not a Python 3 version like py311"))?;
    }
    let exclusions = workspace::Exclusions::new(&settings)?;

    let (mut checked, mut warnings) = workspace::discover(&paths, &root, &exclusions);
    if let Some((path, _)) = &stdin {
        checked = vec![path.clone()];
    }
    // The index spans the whole project, so helpers in files not being checked still count.
    // Problems elsewhere in the project are not the user's question here, so its walk's warnings are not shown.
    let index_files = if paths.len() == 1 && paths[0] == root && stdin.is_none() {
        // Checking the project root itself: the walk above already found every project file.
        checked.clone()
    } else {
        let (mut index_files, _) = workspace::discover(std::slice::from_ref(&root), &root, &exclusions);
        index_files.extend(checked.iter().cloned());
        index_files.sort();
        index_files.dedup();
        index_files
    };

    let fix_mode = match (arguments.fix || arguments.diff, arguments.unsafe_fixes) {
        (false, _) => FixMode::None,
        (true, false) => FixMode::Safe,
        (true, true) => FixMode::SafeAndUnsafe,
    };
    let display_mode = if arguments.unsafe_fixes { FixMode::SafeAndUnsafe } else { FixMode::Safe };
    let fix_output = if arguments.diff { FixOutput::Report } else { FixOutput::Files };
    let cache_directory = match &arguments.cache_dir {
        _ if arguments.no_cache => None,
        Some(directory) => Some(directory.clone()),
        None => Some(crate::cache::directory(&root, config.cache_dir.as_deref(), loaded.path.as_deref())),
    };
    let environment = dependency_environment(&arguments, &config, loaded.path.as_deref(), &root, &settings);
    let options = RunOptions {
        fix_mode,
        fix_output,
        stdin: stdin.as_ref(),
        cache_directory,
        hash_files: arguments.hash_files,
        environment: environment.as_ref().map(|(environment, _)| environment),
    };
    let outcome = run::run(&index_files, &checked, &root, &settings, options);
    if arguments.verbose {
        match &environment {
            Some((environment, description)) => eprintln!(
                "asynclint: dependencies: {description}: {} modules parsed, {} from the cache",
                environment.parsed.load(std::sync::atomic::Ordering::Relaxed),
                environment.from_cache.load(std::sync::atomic::Ordering::Relaxed)
            ),
            None => eprintln!("asynclint: dependencies: not followed (no environment found, or turned off)"),
        }
    }
    warnings.extend(outcome.warnings);
    for warning in &warnings {
        eprintln!("asynclint: warning: {warning}");
    }

    if arguments.add_noqa {
        if stdin.is_some() {
            return Err("`--add-noqa` writes files; it cannot take standard input".to_owned());
        }
        let (added, failures) = run::add_noqa(&outcome.reports);
        for failure in &failures {
            eprintln!("asynclint: warning: {failure}");
        }
        eprintln!("Added {added} noqa directive{}.", plural(added));
        return Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_ERROR) });
    }
    let stdout = io::stdout();
    let style =
        Style { enabled: stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty()) };
    let mut out = BufWriter::new(stdout.lock());
    let write_failed = |error: io::Error| format!("cannot write the report: {error}");
    let remaining: usize = outcome.reports.iter().map(|report| report.diagnostics.len()).sum();
    let fixed: usize = outcome.reports.iter().map(|report| report.fixed.len()).sum();
    let findings_exit =
        if remaining > 0 && !arguments.exit_zero { ExitCode::from(EXIT_FINDINGS) } else { ExitCode::SUCCESS };
    if arguments.diff {
        let changed = output::write_diff(&mut out, &outcome.reports).map_err(write_failed)?;
        out.flush().map_err(write_failed)?;
        if changed > 0 {
            eprintln!("Would fix {fixed} error{} in {changed} file{}.", plural(fixed), plural(changed));
            return Ok(ExitCode::from(EXIT_FINDINGS));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let (Some((path, text)), true) = (&stdin, arguments.fix) {
        // Fixing standard input prints the fixed source, as formatters and ruff do; findings go to stderr.
        let fixed_text = outcome
            .reports
            .iter()
            .find(|report| report.path == *path)
            .map_or(text.as_str(), |report| report.source.written());
        out.write_all(fixed_text.as_bytes()).map_err(write_failed)?;
        out.flush().map_err(write_failed)?;
        let mut errors = io::stderr().lock();
        output::write_concise(&mut errors, &outcome.reports, Style { enabled: false }, display_mode)
            .map_err(write_failed)?;
        return Ok(findings_exit);
    }
    match arguments.output_format {
        _ if arguments.statistics => {
            output::write_statistics(&mut out, &outcome.reports, display_mode).map_err(write_failed)?
        }
        OutputFormat::Json => output::write_json(&mut out, &outcome.reports).map_err(write_failed)?,
        OutputFormat::JsonLines => output::write_json_lines(&mut out, &outcome.reports).map_err(write_failed)?,
        OutputFormat::Github => output::write_github(&mut out, &outcome.reports).map_err(write_failed)?,
        OutputFormat::Gitlab => output::write_gitlab(&mut out, &outcome.reports).map_err(write_failed)?,
        OutputFormat::Junit => output::write_junit(&mut out, &outcome.reports).map_err(write_failed)?,
        OutputFormat::Sarif => {
            let working_directory =
                std::env::current_dir().map_err(|error| format!("no working directory: {error}"))?;
            sarif::write_sarif(&mut out, &outcome.reports, &working_directory).map_err(write_failed)?
        }
        OutputFormat::Full | OutputFormat::Concise => {
            if arguments.output_format == OutputFormat::Full {
                output::write_full(&mut out, &outcome.reports, style, display_mode).map_err(write_failed)?;
            } else {
                output::write_concise(&mut out, &outcome.reports, style, display_mode).map_err(write_failed)?;
            }
            if arguments.show_fixes {
                output::write_fixes_applied(&mut out, &outcome.reports).map_err(write_failed)?;
            }
            if !arguments.quiet {
                write_summary(&mut out, &outcome.reports, remaining, fixed, display_mode).map_err(write_failed)?;
            }
        }
    }
    out.flush().map_err(write_failed)?;
    Ok(findings_exit)
}

/// The environment whose dependencies the run follows, and how `--verbose` describes it: none when following is
/// turned off (`--no-follow-dependencies`, `follow-dependencies = false`) or no environment is found.
fn dependency_environment(
    arguments: &CheckArgs,
    config: &settings::Config,
    config_file: Option<&Path>,
    root: &Path,
    settings: &Settings,
) -> Option<(Environment, String)> {
    if arguments.no_follow_dependencies || config.follow_dependencies == Some(false) {
        return None;
    }
    let configured = arguments.python_environment.clone().or_else(|| {
        let base = config_file.and_then(Path::parent).unwrap_or(root);
        config.python_environment.as_deref().map(|path| base.join(path))
    });
    let (path, found, directories) = environment::find(root, configured.as_deref())?;
    let cache = match &arguments.cache_dir {
        _ if arguments.no_cache => None,
        explicit => environment::cache_directory(explicit.as_deref()),
    };
    let how = match found {
        environment::Found::VirtualEnv => "$VIRTUAL_ENV",
        environment::Found::ProjectDirectory => "the project's",
        environment::Found::Configured => "configured",
    };
    let description = format!("{how} environment {}", path.display());
    let cwd = std::env::current_dir().ok().and_then(|cwd| cwd.canonicalize().ok());
    let display = move |file: &Path| {
        let shown = cwd.as_deref().and_then(|cwd| file.strip_prefix(cwd).ok()).unwrap_or(file);
        shown.display().to_string()
    };
    Some((Environment::new(directories, settings, cache, display), description))
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// With the path `-`, the source on standard input and the (absolute) path it stands for.
fn read_stdin_source(arguments: &CheckArgs) -> Result<Option<(PathBuf, String)>, String> {
    if arguments.paths.iter().all(|path| path.as_os_str() != "-") {
        return Ok(None);
    }
    if arguments.paths.len() != 1 {
        return Err("`-` (standard input) cannot be combined with other paths".to_owned());
    }
    let name = arguments.stdin_filename.as_ref().ok_or("reading standard input (`-`) needs `--stdin-filename NAME`")?;
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut io::stdin().lock(), &mut bytes)
        .map_err(|error| format!("cannot read standard input: {error}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "standard input is not valid UTF-8".to_owned())?;
    let name = std::path::absolute(name).map_err(|error| format!("{}: {error}", name.display()))?;
    // The directory is real even when the file is not: resolve it the way project files are resolved.
    let path = match (name.parent().and_then(|dir| dir.canonicalize().ok()), name.file_name()) {
        (Some(directory), Some(file)) => directory.join(file),
        _ => name,
    };
    Ok(Some((path, text)))
}

fn write_summary(
    out: &mut impl Write,
    reports: &[run::FileReport],
    remaining: usize,
    fixed: usize,
    mode: FixMode,
) -> io::Result<()> {
    let diagnostics = reports.iter().flat_map(|report| &report.diagnostics);
    let safe = diagnostics
        .clone()
        .filter(|d| d.preferred_fix().is_some_and(|fix| fix.applicability == crate::core::Applicability::Safe))
        .count();
    let unsafe_only = diagnostics
        .filter(|d| d.preferred_fix().is_some_and(|fix| fix.applicability == crate::core::Applicability::Unsafe))
        .count();
    if remaining == 0 && fixed == 0 {
        return writeln!(out, "All checks passed!");
    }
    let plural = |count: usize, word: &str| {
        if count == 1 {
            format!("{count} {word}")
        } else {
            format!("{count} {word}s")
        }
    };
    if fixed > 0 {
        writeln!(out, "Found {} ({fixed} fixed, {remaining} remaining).", plural(remaining + fixed, "error"))?;
    } else {
        writeln!(out, "Found {}.", plural(remaining, "error"))?;
    }
    let fixable = if mode == FixMode::SafeAndUnsafe { safe + unsafe_only } else { safe };
    if fixable > 0 {
        let flag = if mode == FixMode::SafeAndUnsafe { "--fix --unsafe-fixes" } else { "--fix" };
        writeln!(out, "[*] {fixable} fixable with the `{flag}` option.")?;
    }
    if mode != FixMode::SafeAndUnsafe && unsafe_only > 0 {
        let hidden = if unsafe_only == 1 { "1 hidden fix".to_owned() } else { format!("{unsafe_only} hidden fixes") };
        writeln!(out, "({hidden} can be enabled with the `--unsafe-fixes` option.)")?;
    }
    Ok(())
}
