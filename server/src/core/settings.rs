//! Settings: which rules run, at what severity, for which Python version, with which catalogue. Parsing a config
//! file is a pure function of its text; finding the file is the front ends' business.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;

use super::catalogue::{self, BlockingSpec, Catalogue, LoopCallbackSpec};
use super::diagnostic::Severity;
use super::rules::{self, RuleMeta};

/// Python version assumed when neither the config nor `requires-python` says: `asyncio.to_thread` exists from 3.9.
pub const DEFAULT_TARGET: (u8, u8) = (3, 9);

#[derive(Debug, Clone)]
pub struct Settings {
    enabled: Vec<&'static str>,
    severities: HashMap<&'static str, Severity>,
    pub target_version: (u8, u8),
    catalogue: Arc<Catalogue>,
    /// Glob patterns of paths the CLI should skip (`exclude` and `extend-exclude`).
    pub exclude: Vec<String>,
    /// `per-file-ignores`: files matching a glob (relative to the project root) skip these rules.
    per_file_ignores: Vec<(globset::GlobMatcher, Vec<&'static str>)>,
    /// `offload-functions`, checked to be dotted names.
    pub offload_functions: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: rules::ALL.iter().map(|rule| rule.code).collect(),
            severities: HashMap::new(),
            target_version: DEFAULT_TARGET,
            catalogue: Catalogue::builtin(),
            exclude: Vec::new(),
            per_file_ignores: Vec::new(),
            offload_functions: Vec::new(),
        }
    }
}

impl Settings {
    pub fn is_enabled(&self, rule: &RuleMeta) -> bool {
        self.enabled.contains(&rule.code)
    }

    pub fn severity(&self, rule: &RuleMeta) -> Severity {
        self.severities.get(rule.code).copied().unwrap_or(rule.default_severity)
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Feeds `hasher` everything that changes what a file's analysis yields (not which files are checked), for caches
    /// of analysis results.
    pub fn fingerprint(&self, hasher: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        let mut enabled = self.enabled.clone();
        enabled.sort_unstable();
        enabled.hash(hasher);
        let mut severities: Vec<_> = self.severities.iter().collect();
        severities.sort_unstable();
        severities.hash(hasher);
        self.target_version.hash(hasher);
        self.catalogue.fingerprint().hash(hasher);
        self.offload_functions.hash(hasher);
    }

    /// The settings for one file, given its path relative to the project root: `per-file-ignores` applied.
    pub fn for_file(&self, relative: &std::path::Path) -> std::borrow::Cow<'_, Settings> {
        let ignored: Vec<&'static str> = self
            .per_file_ignores
            .iter()
            .filter(|(glob, _)| glob.is_match(relative))
            .flat_map(|(_, codes)| codes.iter().copied())
            .collect();
        if ignored.is_empty() {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut settings = self.clone();
        settings.enabled.retain(|code| !ignored.contains(code));
        std::borrow::Cow::Owned(settings)
    }

    /// Applies selections in order: `select` replaces the set, `extend-select` adds, `ignore` removes.
    pub fn apply_selection(
        &mut self,
        select: Option<&[String]>,
        extend: &[String],
        ignore: &[String],
    ) -> Result<(), ConfigError> {
        if let Some(select) = select {
            self.enabled.clear();
            for selector in select {
                add_all(&mut self.enabled, selector)?;
            }
        }
        for selector in extend {
            add_all(&mut self.enabled, selector)?;
        }
        for selector in ignore {
            let removed = resolve_selector(selector)?;
            self.enabled.retain(|code| !removed.iter().any(|rule| rule.code == *code));
        }
        Ok(())
    }

    /// Settings from a parsed config (the CLI layers its flags on top).
    pub fn from_config(config: &Config) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        settings.apply_selection(config.select.as_deref(), &config.extend_select, &config.ignore)?;
        for (selector, level) in &config.severity {
            let severity = Severity::parse(level).ok_or_else(|| {
                ConfigError::new(format!(
                    "unknown severity `{level}` for `{selector}` (use error, warning, information or hint)"
                ))
            })?;
            for rule in resolve_selector(selector)? {
                settings.severities.insert(rule.code, severity);
            }
        }
        if let Some(version) = &config.target_version {
            settings.target_version = parse_target_version(version).ok_or_else(|| {
                ConfigError::new(format!("`target-version` must look like \"py311\", not `{version}`"))
            })?;
        } else if let Some(version) = config.requires_python.as_deref().and_then(minimum_python) {
            settings.target_version = version;
        }
        let customised = !config.extra_blocking_calls.is_empty()
            || !config.allowed_calls.is_empty()
            || !config.extra_coroutine_functions.is_empty()
            || !config.offload_decorators.is_empty()
            || !config.loop_decorators.is_empty()
            || !config.loop_callbacks.is_empty();
        if customised {
            let catalogue = Catalogue::customised(&catalogue::Extra {
                blocking: &config.extra_blocking_calls,
                allowed: &config.allowed_calls,
                coroutine_functions: &config.extra_coroutine_functions,
                offload_decorators: &config.offload_decorators,
                loop_decorators: &config.loop_decorators,
                loop_callbacks: &config.loop_callbacks,
            })
            .map_err(ConfigError::new)?;
            settings.catalogue = Arc::new(catalogue);
        }
        settings.exclude = config.exclude.iter().chain(&config.extend_exclude).cloned().collect();
        for helper in &config.offload_functions {
            let dotted = helper.split('.').all(|part| {
                part.chars().next().is_some_and(|first| first.is_alphabetic() || first == '_')
                    && part.chars().all(|character| character.is_alphanumeric() || character == '_')
            });
            if !dotted {
                return Err(ConfigError::new(format!(
                    "offload-functions: `{helper}` is not a dotted name like `hass.async_add_executor_job`"
                )));
            }
        }
        settings.offload_functions = config.offload_functions.clone();
        for (pattern, selectors) in &config.per_file_ignores {
            let glob = globset::Glob::new(pattern)
                .map_err(|error| ConfigError::new(format!("per-file-ignores: invalid pattern `{pattern}`: {error}")))?;
            let mut codes = Vec::new();
            for selector in selectors {
                codes.extend(resolve_selector(selector)?.into_iter().map(|rule| rule.code));
            }
            settings.per_file_ignores.push((glob.compile_matcher(), codes));
        }
        Ok(settings)
    }
}

fn resolve_selector(selector: &str) -> Result<Vec<&'static RuleMeta>, ConfigError> {
    let rules = rules::select(selector);
    if rules.is_empty() {
        return Err(ConfigError::new(format!("`{selector}` names no asynclint rule (try a code like AL101, a prefix like AL1, or a name like blocking-sleep)")));
    }
    Ok(rules)
}

fn add_all(enabled: &mut Vec<&'static str>, selector: &str) -> Result<(), ConfigError> {
    for rule in resolve_selector(selector)? {
        if !enabled.contains(&rule.code) {
            enabled.push(rule.code);
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub message: String,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError { message: message.into() }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.message)
    }
}

/// The `[tool.asynclint]` table (or the whole of `asynclint.toml`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    pub select: Option<Vec<String>>,
    #[serde(default)]
    pub extend_select: Vec<String>,
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default)]
    pub severity: BTreeMap<String, String>,
    pub target_version: Option<String>,
    #[serde(default)]
    pub extra_blocking_calls: Vec<BlockingSpec>,
    #[serde(default)]
    pub allowed_calls: Vec<String>,
    #[serde(default)]
    pub extra_coroutine_functions: Vec<String>,
    /// Helpers that run a function reference in a worker thread, as written at call sites
    /// (`hass.async_add_executor_job`); offload fixes use the first one whose first name is in scope.
    #[serde(default)]
    pub offload_functions: Vec<String>,
    /// Decorators (qualified names) after which the decorated function runs in a worker thread when called, in the
    /// schema of the catalogue's `[offload] decorators`.
    #[serde(default)]
    pub offload_decorators: Vec<String>,
    /// Decorators (qualified names) that mark a sync function as one that runs on the event loop, beside the
    /// catalogue's `[loop] decorators` (`homeassistant.core.callback`).
    #[serde(default)]
    pub loop_decorators: Vec<String>,
    /// Calls that run a sync function they are given on the event loop, in the schema of the catalogue's
    /// `[[loop.callbacks]]`.
    #[serde(default)]
    pub loop_callbacks: Vec<LoopCallbackSpec>,
    #[serde(default)]
    pub per_file_ignores: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub extend_exclude: Vec<String>,
    /// Where `check` keeps its cache, relative to the config file's directory (the CLI reads it; analysis does not).
    pub cache_dir: Option<String>,
    /// The Python environment whose installed dependencies calls are followed into, relative to the config file's
    /// directory, when neither `$VIRTUAL_ENV` nor `.venv`/`venv` in the project root is one (the front ends read it).
    pub python_environment: Option<String>,
    /// Whether blocking chains are followed into installed dependencies (default: true; the front ends read it).
    pub follow_dependencies: Option<bool>,
    /// From `[project] requires-python`, not from our table.
    #[serde(skip)]
    pub requires_python: Option<String>,
}

#[derive(Deserialize)]
struct Pyproject {
    tool: Option<Tool>,
    project: Option<Project>,
}

#[derive(Deserialize)]
struct Tool {
    asynclint: Option<toml::Value>,
}

#[derive(Deserialize)]
struct Project {
    #[serde(rename = "requires-python")]
    requires_python: Option<String>,
}

/// What a `pyproject.toml` says to asynclint.
#[derive(Debug, Clone, PartialEq)]
pub struct PyprojectConfig {
    /// The `[tool.asynclint]` table (default when absent), with `requires-python` filled in.
    pub config: Config,
    /// Whether the file has a `[tool.asynclint]` table: config discovery stops only at one that does.
    pub has_table: bool,
}

/// Parses a `pyproject.toml`.
pub fn parse_pyproject(text: &str) -> Result<PyprojectConfig, ConfigError> {
    let pyproject: Pyproject = toml::from_str(text).map_err(|error| ConfigError::new(error.to_string()))?;
    let requires_python = pyproject.project.and_then(|project| project.requires_python);
    let table = pyproject.tool.and_then(|tool| tool.asynclint);
    let has_table = table.is_some();
    let mut config: Config = match table {
        Some(table) => table.try_into().map_err(|error: toml::de::Error| ConfigError::new(error.to_string()))?,
        None => Config::default(),
    };
    config.requires_python = requires_python;
    Ok(PyprojectConfig { config, has_table })
}

/// Parses an `asynclint.toml`, whose top level is the config table.
pub fn parse_asynclint_toml(text: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|error| ConfigError::new(error.to_string()))
}

/// `py39` / `py3.9` / `3.9` → (3, 9).
pub fn parse_target_version(text: &str) -> Option<(u8, u8)> {
    let digits = text.trim().trim_start_matches("py");
    let (major, minor) = match digits.split_once('.') {
        Some((major, minor)) => (major.parse().ok()?, minor.parse().ok()?),
        None if digits.len() >= 2 => (digits[..1].parse().ok()?, digits[1..].parse().ok()?),
        None => return None,
    };
    (major == 3).then_some((major, minor))
}

/// The lowest Python a `requires-python` specifier allows, for the common `>=3.x` forms.
fn minimum_python(specifier: &str) -> Option<(u8, u8)> {
    specifier.split(',').find_map(|part| {
        let part = part.trim();
        let version =
            part.strip_prefix(">=").or_else(|| part.strip_prefix("~=")).or_else(|| part.strip_prefix("=="))?;
        let mut numbers = version.trim().split('.');
        let major: u8 = numbers.next()?.parse().ok()?;
        let minor: u8 = numbers.next()?.trim_end_matches('*').parse().ok()?;
        (major == 3).then_some((major, minor))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyproject_table_is_read_and_requires_python_is_the_default_target() {
        let config = parse_pyproject(
            "[project]\nrequires-python = \">=3.8\"\n[tool.asynclint]\nignore = [\"AL109\"]\nseverity = { AL1 = \"error\" }\n\
             extra-blocking-calls = [{ name = \"mylib.fetch\", rule = \"blocking-http\" }]\n\
             loop-decorators = [\"mylib.on_loop\"]\nloop-callbacks = [{ name = \"mylib.later\", argument = 1 }]\n",
        )
        .unwrap()
        .config;
        let settings = Settings::from_config(&config).unwrap();
        assert_eq!(settings.target_version, (3, 8));
        assert!(!settings.is_enabled(rules::find("AL109").unwrap()));
        assert_eq!(settings.severity(rules::find("AL101").unwrap()), Severity::Error);
        assert!(settings.catalogue().lookup("mylib.fetch").is_some());
        assert!(settings.catalogue().is_loop_decorator("mylib.on_loop"));
        assert_eq!(settings.catalogue().loop_callback("mylib.later").map(|callback| callback.argument), Some(1));
    }

    #[test]
    fn unknown_keys_and_bad_selectors_are_errors() {
        let unknown = parse_pyproject("[tool.asynclint]\nselekt = [\"AL1\"]\n").unwrap_err();
        assert!(unknown.message.contains("selekt"), "{}", unknown.message);
        let config = parse_asynclint_toml("select = [\"E501\"]\n").unwrap();
        assert!(Settings::from_config(&config).unwrap_err().message.contains("E501"));
        let without_table = parse_pyproject("[project]\nrequires-python = \">=3.8\"\n[tool.other]\nx = 1\n").unwrap();
        assert!(!without_table.has_table);
        assert_eq!(Settings::from_config(&without_table.config).unwrap().target_version, (3, 8));
        assert!(parse_pyproject("not toml [").is_err());
    }

    #[test]
    fn per_file_ignores_disable_rules_for_matching_paths() {
        let config =
            parse_asynclint_toml("per-file-ignores = { \"tests/**\" = [\"AL1\"], \"*.pyi\" = [\"ALL\"] }\n").unwrap();
        let settings = Settings::from_config(&config).unwrap();
        let sleep = rules::find("AL101").unwrap();
        let tasks = rules::find("AL201").unwrap();
        let in_tests = settings.for_file(std::path::Path::new("tests/unit/test_app.py"));
        assert!(!in_tests.is_enabled(sleep));
        assert!(in_tests.is_enabled(tasks));
        assert!(settings.for_file(std::path::Path::new("app/main.py")).is_enabled(sleep));
        assert!(!settings.for_file(std::path::Path::new("stubs.pyi")).is_enabled(tasks));
        let bad = parse_asynclint_toml("per-file-ignores = { \"x\" = [\"NOPE\"] }\n").unwrap();
        assert!(Settings::from_config(&bad).is_err());
    }

    #[test]
    fn target_versions_parse() {
        assert_eq!(parse_target_version("py311"), Some((3, 11)));
        assert_eq!(parse_target_version("3.8"), Some((3, 8)));
        assert_eq!(parse_target_version("py27"), None);
        assert_eq!(minimum_python(">=3.10,<4"), Some((3, 10)));
    }
}
