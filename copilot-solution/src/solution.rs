//! The solution in source form (`copilot-solution/solution/`), its checks, and the packer that
//! writes an importable zip with the skill's endpoint and app id filled in.
//!
//! The checks run before every pack, so a broken source never becomes a zip: every XML file is
//! well-formed and every dialog parses as YAML; folder names match schema names; the root components
//! list exactly the environment variables present; each topic's skill actions exist in the skill
//! component, with declared inputs and outputs. `[Content_Types].xml` is generated from the file
//! set, so it cannot fall out of step with it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::Value;
use url::Url;

use crate::{xml, yaml};

/// The solution source shipped in this crate.
pub fn default_source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("solution")
}

/// Dataverse component type of an environment variable definition.
const ENVIRONMENT_VARIABLE_COMPONENT: &str = "380";
const CONTENT_TYPES: &str = "[Content_Types].xml";

/// A skill endpoint URL as the solution stores it: `https://host/api/messages`.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillEndpoint(String);

impl SkillEndpoint {
    /// Takes a tunnel's base URL or the full `/api/messages` URL; https only.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url =
            Url::parse(text.trim()).map_err(|_| format!("--endpoint: '{text}' is not a URL"))?;
        if url.scheme() != "https" {
            return Err(format!("--endpoint: '{text}' must be an https URL (Copilot Studio only calls skills over https)"));
        }
        let Some(host) = url.host_str() else {
            return Err(format!("--endpoint: '{text}' has no host"));
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "--endpoint: '{text}' must not have a query or fragment"
            ));
        }
        let path = url.path().trim_end_matches('/');
        if !(path.is_empty() || path == "/api/messages") {
            return Err(format!("--endpoint: give the tunnel's base URL (https://{host}) or the skill's /api/messages URL, not '{}'", url.path()));
        }
        let port = url
            .port()
            .map(|port| format!(":{port}"))
            .unwrap_or_default();
        Ok(Self(format!("https://{host}{port}/api/messages")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An Entra app id.
#[derive(Debug, Clone, PartialEq)]
pub struct AppId(String);

impl AppId {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let groups: Vec<&str> = text.split('-').collect();
        let lengths = [8, 4, 4, 4, 12];
        let valid = groups.len() == 5
            && groups
                .iter()
                .zip(lengths)
                .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
        if valid {
            Ok(Self(text.to_ascii_lowercase()))
        } else {
            Err(format!(
                "--app-id: '{text}' is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One action of the skill component.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SkillAction {
    pub action_id: String,
    /// `event` or `message`.
    pub activity_type: String,
    pub inputs: BTreeSet<String>,
    pub outputs: BTreeSet<String>,
}

/// The files of a solution, by their path inside the zip.
#[derive(Debug, Clone)]
pub struct Solution {
    files: BTreeMap<String, Vec<u8>>,
}

fn text_of<'a>(files: &'a BTreeMap<String, Vec<u8>>, path: &str) -> anyhow::Result<&'a str> {
    let bytes = files
        .get(path)
        .with_context(|| format!("{path} is missing"))?;
    std::str::from_utf8(bytes).with_context(|| format!("{path} is not UTF-8"))
}

impl Solution {
    /// Reads every file under `dir` (a generated `[Content_Types].xml` there is ignored).
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        fn walk(
            root: &Path,
            dir: &Path,
            files: &mut BTreeMap<String, Vec<u8>>,
        ) -> anyhow::Result<()> {
            for entry in
                std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?
            {
                let path = entry?.path();
                if path.is_dir() {
                    walk(root, &path, files)?;
                } else {
                    let relative = path
                        .strip_prefix(root)?
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/");
                    if relative != CONTENT_TYPES && !relative.ends_with(".md") {
                        files.insert(relative, std::fs::read(&path)?);
                    }
                }
            }
            Ok(())
        }
        let mut files = BTreeMap::new();
        walk(dir, dir, &mut files)?;
        if files.is_empty() {
            bail!("{} holds no solution files", dir.display());
        }
        Ok(Self { files })
    }

    /// Reads a packed zip back (for checks and tests).
    pub fn from_zip(path: &Path) -> anyhow::Result<Self> {
        let mut archive = zip::ZipArchive::new(std::fs::File::open(path)?)?;
        let mut files = BTreeMap::new();
        for index in 0..archive.len() {
            let mut entry = archive.by_index(index)?;
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes)?;
            files.insert(entry.name().to_owned(), bytes);
        }
        Ok(Self { files })
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    pub fn text(&self, path: &str) -> anyhow::Result<&str> {
        text_of(&self.files, path)
    }

    /// The bot's schema name (the folder under `bots/`).
    pub fn bot_schema_name(&self) -> anyhow::Result<String> {
        let bots: BTreeSet<&str> = self
            .paths()
            .filter_map(|p| p.strip_prefix("bots/"))
            .filter_map(|p| p.split('/').next())
            .collect();
        match bots.into_iter().collect::<Vec<_>>().as_slice() {
            [bot] => Ok(bot.to_string()),
            other => bail!(
                "expected exactly one bot under bots/, found {}",
                other.len()
            ),
        }
    }

    /// Schema names of the bot components (folders under `botcomponents/`).
    pub fn components(&self) -> BTreeSet<String> {
        self.paths()
            .filter_map(|p| p.strip_prefix("botcomponents/"))
            .filter_map(|p| p.split('/').next())
            .map(str::to_owned)
            .collect()
    }

    /// Schema names of the environment variables.
    pub fn environment_variables(&self) -> BTreeSet<String> {
        self.paths()
            .filter_map(|p| p.strip_prefix("environmentvariabledefinitions/"))
            .filter_map(|p| p.split('/').next())
            .map(str::to_owned)
            .collect()
    }

    /// A component's `data`, parsed.
    pub fn component_data(&self, schema: &str) -> anyhow::Result<Value> {
        let path = format!("botcomponents/{schema}/data");
        yaml::parse(self.text(&path)?)
            .map_err(|error| anyhow::anyhow!("{path} is not valid YAML: {error}"))
    }

    /// A component's display name.
    pub fn component_name(&self, schema: &str) -> Option<String> {
        let xml = self
            .text(&format!("botcomponents/{schema}/botcomponent.xml"))
            .ok()?;
        xml::texts(xml, "name").into_iter().next()
    }

    /// The skill component's schema name (component type 13).
    pub fn skill_component(&self) -> anyhow::Result<String> {
        self.components()
            .into_iter()
            .find(|schema| {
                self.text(&format!("botcomponents/{schema}/botcomponent.xml"))
                    .is_ok_and(|xml| {
                        xml::texts(xml, "componenttype").first().map(String::as_str) == Some("13")
                    })
            })
            .context("the solution has no skill component (componenttype 13)")
    }

    /// The actions the skill component declares.
    pub fn skill_actions(&self) -> anyhow::Result<Vec<SkillAction>> {
        let data = self.component_data(&self.skill_component()?)?;
        let names = |schema: &Value| -> BTreeSet<String> {
            schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut actions: Vec<SkillAction> = data
            .get("actions")
            .and_then(Value::as_array)
            .context("the skill component has no actions")?
            .iter()
            .map(|action| SkillAction {
                action_id: action["actionId"].as_str().unwrap_or_default().to_owned(),
                activity_type: action["activityType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                inputs: names(&action["inputType"]),
                outputs: names(&action["outputType"]),
            })
            .collect();
        actions.sort();
        Ok(actions)
    }

    /// The value an environment variable's definition defaults to.
    pub fn environment_variable_default(&self, schema: &str) -> anyhow::Result<String> {
        let xml = self.text(&format!(
            "environmentvariabledefinitions/{schema}/environmentvariabledefinition.xml"
        ))?;
        xml::texts(xml, "defaultvalue")
            .into_iter()
            .next()
            .with_context(|| format!("{schema} has no defaultvalue"))
    }

    /// Sets an environment variable's default value (what the import dialog shows pre-filled).
    fn set_environment_variable_default(
        &mut self,
        schema: &str,
        value: &str,
    ) -> anyhow::Result<()> {
        let path =
            format!("environmentvariabledefinitions/{schema}/environmentvariabledefinition.xml");
        let text = self.text(&path)?.to_owned();
        let (start, end) = match (text.find("<defaultvalue>"), text.find("</defaultvalue>")) {
            (Some(start), Some(end)) if start < end => (start + "<defaultvalue>".len(), end),
            _ => bail!("{path} has no <defaultvalue> element"),
        };
        let updated = format!("{}{}{}", &text[..start], xml::escape(value), &text[end..]);
        self.files.insert(path, updated.into_bytes());
        Ok(())
    }

    /// Fills in the skill's endpoint and app id.
    pub fn with_skill(mut self, endpoint: &SkillEndpoint, app_id: &AppId) -> anyhow::Result<Self> {
        let skill = self.skill_component()?;
        let data = self.component_data(&skill)?;
        let endpoint_variable = data
            .pointer("/appEndpoint/schemaName")
            .and_then(Value::as_str)
            .context("the skill has no appEndpoint")?
            .to_owned();
        let app_id_variable = data
            .pointer("/appId/schemaName")
            .and_then(Value::as_str)
            .context("the skill has no appId")?
            .to_owned();
        self.set_environment_variable_default(&endpoint_variable, endpoint.as_str())?;
        self.set_environment_variable_default(&app_id_variable, app_id.as_str())?;
        Ok(self)
    }

    /// `[Content_Types].xml` for this file set: defaults for xml and json, an override per `data` part.
    pub fn content_types(&self) -> String {
        let mut text = String::from("\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">");
        text.push_str("<Default Extension=\"xml\" ContentType=\"application/octet-stream\" /><Default Extension=\"json\" ContentType=\"application/octet-stream\" />");
        for path in self.paths().filter(|p| p.ends_with("/data")) {
            text.push_str(&format!(
                "<Override PartName=\"/{}\" ContentType=\"application/octet-stream\" />",
                xml::escape(path)
            ));
        }
        text.push_str("</Types>");
        text
    }

    /// Every check; the error lists every problem found.
    pub fn check(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        for (path, bytes) in &self.files {
            let Ok(text) = std::str::from_utf8(bytes) else {
                problems.push(format!("{path} is not UTF-8"));
                continue;
            };
            if path.ends_with(".xml") {
                if let Err(error) = xml::check_well_formed(text) {
                    problems.push(format!("{path} is not well-formed XML: {error}"));
                }
            } else if path.ends_with(".json") {
                if let Err(error) = serde_json::from_str::<Value>(text) {
                    problems.push(format!("{path} is not valid JSON: {error}"));
                }
            } else if path.ends_with("/data") {
                match yaml::parse(text) {
                    Ok(value) if value.get("kind").and_then(Value::as_str).is_some() => {}
                    Ok(_) => problems.push(format!("{path} has no kind")),
                    Err(error) => problems.push(format!("{path} is not valid YAML: {error}")),
                }
            }
        }
        if let Some(text) = self
            .files
            .get(CONTENT_TYPES)
            .and_then(|b| std::str::from_utf8(b).ok())
        {
            let listed: BTreeSet<String> = xml::attributes(text, "Override", "PartName")
                .into_iter()
                .collect();
            let parts: BTreeSet<String> = self
                .paths()
                .filter(|p| p.ends_with("/data"))
                .map(|p| format!("/{p}"))
                .collect();
            if listed != parts {
                problems.push(format!(
                    "[Content_Types].xml overrides {listed:?} but the data parts are {parts:?}"
                ));
            }
        }
        for required in ["solution.xml", "customizations.xml"] {
            if !self.files.contains_key(required) {
                problems.push(format!("{required} is missing"));
            }
        }
        if let Err(error) = self.check_references() {
            problems.push(format!("{error:#}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("the solution has problems:\n- {}", problems.join("\n- "))
        }
    }

    fn check_references(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let bot = self.bot_schema_name()?;
        let bot_xml = self.text(&format!("bots/{bot}/bot.xml"))?;
        if xml::attributes(bot_xml, "bot", "schemaname") != vec![bot.clone()] {
            problems.push(format!("bots/{bot}/bot.xml does not name {bot}"));
        }
        let components = self.components();
        for schema in &components {
            let Ok(text) = self.text(&format!("botcomponents/{schema}/botcomponent.xml")) else {
                problems.push(format!(
                    "botcomponents/{schema}/botcomponent.xml is missing"
                ));
                continue;
            };
            if xml::attributes(text, "botcomponent", "schemaname") != vec![schema.clone()] {
                problems.push(format!(
                    "botcomponents/{schema}/botcomponent.xml does not name {schema}"
                ));
            }
            if xml::texts(text, "schemaname") != vec![bot.clone()] {
                problems.push(format!("{schema} does not belong to the bot {bot}"));
            }
            if !self
                .files
                .contains_key(&format!("botcomponents/{schema}/data"))
            {
                problems.push(format!("botcomponents/{schema}/data is missing"));
            }
        }
        let variables = self.environment_variables();
        for schema in &variables {
            match self.text(&format!("environmentvariabledefinitions/{schema}/environmentvariabledefinition.xml")) {
                Ok(text) if xml::attributes(text, "environmentvariabledefinition", "schemaname") == vec![schema.clone()] => {}
                Ok(_) => problems.push(format!("the definition in environmentvariabledefinitions/{schema}/ does not name {schema}")),
                Err(_) => problems.push(format!("environmentvariabledefinitions/{schema}/environmentvariabledefinition.xml is missing")),
            }
        }
        let solution = self.text("solution.xml")?;
        let types = xml::attributes(solution, "RootComponent", "type");
        let names = xml::attributes(solution, "RootComponent", "schemaName");
        let rooted: BTreeSet<String> = types
            .iter()
            .zip(names.iter())
            .filter(|(t, _)| t.as_str() == ENVIRONMENT_VARIABLE_COMPONENT)
            .map(|(_, n)| n.clone())
            .collect();
        if rooted != variables {
            problems.push(format!("solution.xml's root components list the environment variables {rooted:?}, but the solution holds {variables:?}"));
        }
        if let Ok(assets) = self.text("Assets/botcomponent_environmentvariabledefinitionset.xml") {
            for component in xml::attributes(
                assets,
                "botcomponent_environmentvariabledefinition",
                "botcomponentid.schemaname",
            ) {
                if !components.contains(&component) {
                    problems.push(format!("Assets link the unknown component {component}"));
                }
            }
            for variable in xml::attributes(
                assets,
                "botcomponent_environmentvariabledefinition",
                "environmentvariabledefinitionid.schemaname",
            ) {
                if !variables.contains(&variable) {
                    problems.push(format!(
                        "Assets link the unknown environment variable {variable}"
                    ));
                }
            }
        }
        let skill = self.skill_component()?;
        let skill_data = self.component_data(&skill)?;
        for pointer in ["/appId/schemaName", "/appEndpoint/schemaName"] {
            match skill_data.pointer(pointer).and_then(Value::as_str) {
                Some(variable) if variables.contains(variable) => {}
                other => problems.push(format!("the skill's {pointer} names {other:?}, which is not an environment variable of the solution")),
            }
        }
        let actions = self.skill_actions()?;
        for schema in components
            .iter()
            .filter(|schema| schema.contains(".topic."))
        {
            let data = self.component_data(schema)?;
            let mut invocations = Vec::new();
            collect_kind(&data, "InvokeSkillAction", &mut invocations);
            for invocation in invocations {
                let action_id = invocation["actionId"].as_str().unwrap_or_default();
                if invocation["skillId"].as_str() != Some(skill.as_str()) {
                    problems.push(format!("{schema} invokes a skill other than {skill}"));
                }
                let Some(action) = actions.iter().find(|a| a.action_id == action_id) else {
                    problems.push(format!(
                        "{schema} invokes the undeclared skill action '{action_id}'"
                    ));
                    continue;
                };
                for (direction, declared) in
                    [("input", &action.inputs), ("output", &action.outputs)]
                {
                    if let Some(bindings) = invocation
                        .pointer(&format!("/{direction}/binding"))
                        .and_then(Value::as_object)
                    {
                        for name in bindings.keys() {
                            if !declared.contains(name) {
                                problems.push(format!("{schema} binds the undeclared {direction} '{name}' of '{action_id}'"));
                            }
                        }
                    }
                }
                if let Some(allowed) = invocation
                    .pointer(
                        "/interruptionPolicy/interruptionTopicListFilter/allowedInterruptTopics",
                    )
                    .and_then(Value::as_array)
                {
                    for topic in allowed.iter().filter_map(Value::as_str) {
                        if !components.contains(topic) {
                            problems.push(format!(
                                "{schema} allows the unknown topic {topic} to interrupt"
                            ));
                        }
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("{}", problems.join("\n- "))
        }
    }

    /// Checks, then writes the zip: `solution.xml`, `customizations.xml`, `[Content_Types].xml`, then
    /// every other file in path order, deflated.
    pub fn write_zip(&self, out: &Path) -> anyhow::Result<()> {
        let mut files = self.files.clone();
        files.insert(CONTENT_TYPES.to_owned(), self.content_types().into_bytes());
        let packed = Solution { files };
        packed.check()?;
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let file = std::fs::File::create(out)
            .with_context(|| format!("cannot write {}", out.display()))?;
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let first = ["solution.xml", "customizations.xml", CONTENT_TYPES];
        let order = first.iter().map(|p| p.to_string()).chain(
            packed
                .files
                .keys()
                .filter(|p| !first.contains(&p.as_str()))
                .cloned(),
        );
        for path in order {
            zip.start_file(path.as_str(), options)?;
            zip.write_all(&packed.files[&path])?;
        }
        zip.finish()?;
        Ok(())
    }
}

/// Every object with `kind: {kind}` anywhere in `value`.
pub fn collect_kind<'a>(value: &'a Value, kind: &str, found: &mut Vec<&'a Value>) {
    match value {
        Value::Object(object) => {
            if object.get("kind").and_then(Value::as_str) == Some(kind) {
                found.push(value);
            }
            object
                .values()
                .for_each(|child| collect_kind(child, kind, found));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|child| collect_kind(child, kind, found)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_normalised_to_api_messages_and_must_be_https() {
        let ok = [
            (
                "https://name-5001.euw.devtunnels.ms",
                "https://name-5001.euw.devtunnels.ms/api/messages",
            ),
            (
                "https://name-5001.euw.devtunnels.ms/",
                "https://name-5001.euw.devtunnels.ms/api/messages",
            ),
            (
                "https://name-5001.euw.devtunnels.ms/api/messages",
                "https://name-5001.euw.devtunnels.ms/api/messages",
            ),
            (
                "https://skill.contoso.com:8443/api/messages/",
                "https://skill.contoso.com:8443/api/messages",
            ),
        ];
        for (input, expected) in ok {
            assert_eq!(SkillEndpoint::parse(input).unwrap().as_str(), expected);
        }
        for bad in [
            "http://name-5001.euw.devtunnels.ms",
            "name-5001.euw.devtunnels.ms",
            "https://x.ms/other",
            "https://x.ms/api/messages?x=1",
            "ftp://x",
        ] {
            assert!(SkillEndpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn app_ids_must_be_guids() {
        assert_eq!(
            AppId::parse("5C1A0000-0000-4000-8000-000000000001")
                .unwrap()
                .as_str(),
            "5c1a0000-0000-4000-8000-000000000001"
        );
        for bad in [
            "",
            "not-a-guid",
            "5c1a0000-0000-4000-8000-00000000000",
            "5c1a0000-0000-4000-8000-00000000000g",
        ] {
            assert!(AppId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_shipped_source_passes_every_check() {
        let solution = Solution::load(&default_source_dir()).unwrap();
        solution.check().unwrap();
        assert_eq!(solution.bot_schema_name().unwrap(), "hndvr_contosoAgent");
    }
}
