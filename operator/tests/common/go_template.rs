//! Helm's template language, as much of it as `charts/stowage-operator/templates/` uses, so a test
//! renders the chart where no `helm` binary is installed: text with `{{ }}` actions (and the `-`
//! whitespace trims), `define`/`include`, `if`/`else`/`with`/`end`, pipelines, field chains on
//! `.`, and the functions `default`, `quote`, `toYaml`, `nindent`, `indent`, `trunc`,
//! `trimSuffix`, `printf` (`%s`), `contains`. Anything else is an error naming it, never a guess:
//! a chart change that needs more fails the test until this learns it.

use std::collections::BTreeMap;

use serde_json::Value;

/// A parsed template: text and actions, with blocks nested.
#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Output(String),
    If(String, Vec<Node>, Vec<Node>),
    With(String, Vec<Node>, Vec<Node>),
}

/// The templates of a chart: the named ones (`define`) and each file's body.
#[derive(Default)]
pub struct Templates {
    defines: BTreeMap<String, Vec<Node>>,
}

/// Splits `source` into text and action pieces, applying the `{{-` and `-}}` trims.
fn lex(source: &str) -> Result<Vec<(bool, String)>, String> {
    let mut pieces: Vec<(bool, String)> = Vec::new();
    let mut rest = source;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("unclosed {{")?;
        let mut action = &after[..end];
        if let Some(a) = action.strip_prefix('-') {
            text = text.trim_end();
            action = a;
        }
        trim_next = false;
        if let Some(a) = action.strip_suffix('-') {
            trim_next = true;
            action = a;
        }
        pieces.push((false, text.to_owned()));
        let action = action.trim();
        if !(action.starts_with("/*") && action.ends_with("*/")) {
            pieces.push((true, action.to_owned()));
        }
        rest = &after[end + 2..];
    }
    pieces.push((false, if trim_next { rest.trim_start() } else { rest }.to_owned()));
    Ok(pieces)
}

/// Parses pieces into nodes until an `end` or `else` (returned) or the end of input.
fn parse(
    pieces: &mut std::iter::Peekable<std::vec::IntoIter<(bool, String)>>,
    defines: &mut BTreeMap<String, Vec<Node>>,
) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some((is_action, piece)) = pieces.next() {
        if !is_action {
            nodes.push(Node::Text(piece));
            continue;
        }
        let (keyword, argument) = piece.split_once(' ').unwrap_or((piece.as_str(), ""));
        match keyword {
            "end" | "else" => return Ok((nodes, Some(keyword.to_owned()))),
            "if" | "with" => {
                let (then, stop) = parse(pieces, defines)?;
                let otherwise = match stop.as_deref() {
                    Some("else") => parse(pieces, defines)?.0,
                    Some("end") => Vec::new(),
                    _ => return Err(format!("`{keyword}` without `end`")),
                };
                let argument = argument.trim().to_owned();
                nodes.push(match keyword {
                    "if" => Node::If(argument, then, otherwise),
                    _ => Node::With(argument, then, otherwise),
                });
            }
            "define" => {
                let name = argument.trim().trim_matches('"').to_owned();
                let (body, _) = parse(pieces, defines)?;
                defines.insert(name, body);
            }
            "range" | "template" | "block" => return Err(format!("`{keyword}` is not supported")),
            _ => nodes.push(Node::Output(piece)),
        }
    }
    Ok((nodes, None))
}

/// Go's notion of truth: false, 0, "", empty lists and maps, and nil are false.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn text_of(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(format!("cannot print {other} as text")),
    }
}

/// Splits a pipeline or command on `separator` outside quotes and parentheses.
fn split_outside(source: &str, separator: char) -> Vec<String> {
    let (mut parts, mut current, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                current.push(c);
                current.extend(chars.next());
                continue;
            }
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == separator && !quoted && depth == 0 => {
                if !current.trim().is_empty() {
                    parts.push(current.trim().to_owned());
                }
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_owned());
    }
    parts
}

impl Templates {
    /// Parses `source`, keeping its `define`s for later `include`s.
    fn add(&mut self, source: &str) -> Result<Vec<Node>, String> {
        let mut pieces = lex(source)?.into_iter().peekable();
        let (nodes, stop) = parse(&mut pieces, &mut self.defines)?;
        match stop {
            None => Ok(nodes),
            Some(s) => Err(format!("unexpected `{s}`")),
        }
    }

    /// Renders a template file's `source` with `dot` (`{Values, Release, Chart}`); its `define`s
    /// stay for later files (render `_helpers.tpl` first).
    pub fn render(&mut self, source: &str, dot: &Value) -> Result<String, String> {
        let nodes = self.add(source)?;
        self.render_nodes(&nodes, dot)
    }

    fn render_nodes(&self, nodes: &[Node], dot: &Value) -> Result<String, String> {
        let mut out = String::new();
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Output(p) => out.push_str(&text_of(&self.pipeline(p, dot)?)?),
                Node::If(p, then, otherwise) => {
                    let branch = if truthy(&self.pipeline(p, dot)?) {
                        then
                    } else {
                        otherwise
                    };
                    out.push_str(&self.render_nodes(branch, dot)?);
                }
                Node::With(p, then, otherwise) => {
                    let value = self.pipeline(p, dot)?;
                    if truthy(&value) {
                        out.push_str(&self.render_nodes(then, &value)?);
                    } else {
                        out.push_str(&self.render_nodes(otherwise, dot)?);
                    }
                }
            }
        }
        Ok(out)
    }

    fn pipeline(&self, source: &str, dot: &Value) -> Result<Value, String> {
        let mut piped: Option<Value> = None;
        for command in split_outside(source, '|') {
            piped = Some(self.command(&command, dot, piped)?);
        }
        piped.ok_or_else(|| format!("empty pipeline in {{{{ {source} }}}}"))
    }

    fn operand(&self, token: &str, dot: &Value) -> Result<Value, String> {
        if let Some(inner) = token.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
            return self.pipeline(inner, dot);
        }
        if token.starts_with('"') {
            return serde_json::from_str(token).map_err(|e| format!("string {token}: {e}"));
        }
        if let Ok(n) = token.parse::<i64>() {
            return Ok(Value::from(n));
        }
        if token == "." {
            return Ok(dot.clone());
        }
        if let Some(path) = token.strip_prefix('.') {
            return Ok(path
                .split('.')
                .fold(dot.clone(), |v, key| v.get(key).cloned().unwrap_or(Value::Null)));
        }
        Err(format!("unsupported operand `{token}`"))
    }

    fn command(&self, source: &str, dot: &Value, piped: Option<Value>) -> Result<Value, String> {
        let tokens = split_outside(source, ' ');
        let (head, rest) = tokens.split_first().ok_or("empty command")?;
        let is_function = head.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        if !is_function {
            if !rest.is_empty() || piped.is_some() {
                return Err(format!("`{source}` is not a function call"));
            }
            return self.operand(head, dot);
        }
        let mut args = rest
            .iter()
            .map(|t| self.operand(t, dot))
            .collect::<Result<Vec<_>, _>>()?;
        args.extend(piped);
        self.call(head, &args)
    }

    fn call(&self, function: &str, args: &[Value]) -> Result<Value, String> {
        let string = |i: usize| -> Result<String, String> {
            text_of(
                args.get(i)
                    .ok_or_else(|| format!("{function}: missing argument {i}"))?,
            )
        };
        let number = |i: usize| -> Result<usize, String> {
            args.get(i)
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| format!("{function}: argument {i} is not a count"))
        };
        let indent = |n: usize, s: &str| -> String {
            let pad = " ".repeat(n);
            s.lines()
                .map(|l| format!("{pad}{l}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        Ok(match function {
            "include" => {
                let name = string(0)?;
                let body = self
                    .defines
                    .get(&name)
                    .ok_or_else(|| format!("no template named {name}"))?;
                Value::String(self.render_nodes(body, args.get(1).unwrap_or(&Value::Null))?)
            }
            "default" => match args {
                [_, value] if truthy(value) => value.clone(),
                [fallback, _] | [fallback] => fallback.clone(),
                _ => return Err("default takes two arguments".into()),
            },
            "quote" => Value::String(format!("{:?}", string(0)?)),
            "toYaml" => {
                let value = args.first().ok_or("toYaml: missing argument")?;
                let yaml = serde_yaml::to_string(value).map_err(|e| e.to_string())?;
                Value::String(yaml.trim_end().to_owned())
            }
            "nindent" => Value::String(format!("\n{}", indent(number(0)?, &string(1)?))),
            "indent" => Value::String(indent(number(0)?, &string(1)?)),
            "trunc" => Value::String(string(1)?.chars().take(number(0)?).collect()),
            "trimSuffix" => {
                let (suffix, s) = (string(0)?, string(1)?);
                Value::String(s.strip_suffix(suffix.as_str()).unwrap_or(&s).to_owned())
            }
            "printf" => {
                let format = string(0)?;
                let mut out = String::new();
                let mut values = args[1..].iter();
                let mut parts = format.split("%s");
                out.push_str(parts.next().unwrap_or_default());
                for part in parts {
                    out.push_str(&text_of(values.next().ok_or("printf: too few arguments")?)?);
                    out.push_str(part);
                }
                Value::String(out)
            }
            "contains" => Value::Bool(string(1)?.contains(&string(0)?)),
            other => return Err(format!("unsupported function `{other}`")),
        })
    }
}
