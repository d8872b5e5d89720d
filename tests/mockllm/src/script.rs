//! The script: what the model says next, decided from the conversation of each request alone
//! (the server keeps no state between requests, so one server serves many agents at once).

use serde_json::{Value, json};

/// The commands run when neither the prompt nor the options give any: create `hello.txt` and
/// commit it.
pub const DEFAULT_CMD: &str = "printf 'hello from the mock model\\n' > hello.txt && git add hello.txt && git commit -q -m 'Add hello.txt' && echo committed";
/// The final text when neither the prompt nor the options give one.
pub const DEFAULT_FINAL: &str = "Created hello.txt and committed it.\nCOMPLETE_AND_READY_FOR_MERGE";

/// Shell tool names, most preferred first: Claude Code (`Bash`), Codex (`exec_command`,
/// `shell_command`, `shell`), opencode (`bash`), Gemini CLI (`run_shell_command`).
const SHELL_TOOLS: [&str; 6] = [
    "Bash",
    "exec_command",
    "shell_command",
    "shell",
    "bash",
    "run_shell_command",
];

/// A tool the client offers: its name and the JSON schema of its arguments (`Null` if none).
pub struct Tool {
    pub name: String,
    pub schema: Value,
}

/// What a request's conversation amounts to, whatever the API.
#[derive(Default)]
pub struct Conversation {
    pub tools: Vec<Tool>,
    /// The latest user prompt (not counting tool results).
    pub prompt: String,
    /// Tool results since that prompt: how many scripted commands have run.
    pub results: usize,
    /// The JSON schema of the answer, when the client asks for structured output.
    pub wants_json: Option<Value>,
}

/// The model's next message.
pub enum Reply {
    /// Call the shell tool `name` with these arguments.
    Tool {
        name: String,
        args: Value,
    },
    /// Codex's JavaScript "code mode" tool: run this script.
    ExecJs(String),
    Text(String),
}

impl Reply {
    /// One line for the request log: `tool Bash`, `text "…"`.
    pub fn describe(&self) -> String {
        match self {
            Reply::Tool { name, .. } => format!("tool {name}"),
            Reply::ExecJs(_) => "tool exec (code mode)".to_string(),
            Reply::Text(text) => format!("text {text:?}"),
        }
    }
}

/// The fallback script, used when the prompt carries no directives.
#[derive(Clone, Debug)]
pub struct Script {
    pub commands: Vec<String>,
    pub final_text: String,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            commands: vec![DEFAULT_CMD.to_string()],
            final_text: DEFAULT_FINAL.to_string(),
        }
    }
}

impl Script {
    /// The script of a conversation: `MOCK_CMD:` lines of the prompt (all, in order) and its
    /// last `MOCK_FINAL:` line (`\n` in it becomes a newline) win over the fallback.
    pub fn for_prompt(&self, prompt: &str) -> Script {
        // `opencode run` wraps a positional message in double quotes.
        let prompt = prompt
            .strip_prefix('"')
            .and_then(|p| p.strip_suffix('"'))
            .unwrap_or(prompt);
        let directive = |line: &str, key: &str| {
            line.strip_prefix(key)
                .map(|rest| rest.strip_prefix(' ').unwrap_or(rest).to_string())
        };
        let commands: Vec<String> = prompt
            .lines()
            .filter_map(|l| directive(l, "MOCK_CMD:"))
            .collect();
        let final_text = prompt
            .lines()
            .filter_map(|l| directive(l, "MOCK_FINAL:"))
            .next_back()
            .map(|t| t.replace("\\n", "\n"));
        Script {
            commands: if commands.is_empty() {
                self.commands.clone()
            } else {
                commands
            },
            final_text: final_text.unwrap_or_else(|| self.final_text.clone()),
        }
    }

    /// The next message of the conversation: the next command through the shell tool while
    /// commands are left, then the final text. Requests without tools (titles, routing) get a
    /// short text, or a JSON object filled in from the schema they ask for.
    pub fn decide(&self, conv: &Conversation) -> Reply {
        let script = self.for_prompt(&conv.prompt);
        let next = script.commands.get(conv.results);
        let shell = SHELL_TOOLS
            .iter()
            .find_map(|name| conv.tools.iter().find(|t| t.name == *name));
        if let (Some(tool), Some(cmd)) = (shell, next) {
            return Reply::Tool {
                name: tool.name.clone(),
                args: shell_args(&tool.schema, cmd),
            };
        }
        let code_mode = conv
            .tools
            .iter()
            .any(|t| t.name == "exec" && t.schema.is_null());
        if let (true, Some(cmd)) = (code_mode, next) {
            let call = json!({ "cmd": cmd });
            return Reply::ExecJs(format!(
                "const r = await tools.exec_command({call});\n\
                 text(typeof r === 'string' ? r : JSON.stringify(r));"
            ));
        }
        if !conv.tools.is_empty() {
            return Reply::Text(if shell.is_some() || conv.results > 0 {
                script.final_text
            } else {
                "mock: none of the offered tools is a shell tool".to_string()
            });
        }
        match &conv.wants_json {
            Some(schema) => Reply::Text(fill_schema(schema).to_string()),
            None => Reply::Text("Mock reply".to_string()),
        }
    }
}

/// Arguments for a shell tool from its schema: Codex's `exec_command` takes `cmd`, its older
/// `shell` an argv array, the others a `command` string; some also want a `description`.
fn shell_args(schema: &Value, cmd: &str) -> Value {
    let props = &schema["properties"];
    let mut args = serde_json::Map::new();
    if props.get("cmd").is_some() {
        args.insert("cmd".into(), json!(cmd));
    } else if props["command"]["type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("array"))
    {
        args.insert("command".into(), json!(["bash", "-lc", cmd]));
    } else {
        args.insert("command".into(), json!(cmd));
    }
    if props.get("description").is_some() {
        args.insert("description".into(), json!("Run the scripted command"));
    }
    Value::Object(args)
}

/// A value that satisfies a simple JSON schema: the first enum value, every required field.
pub fn fill_schema(schema: &Value) -> Value {
    let Some(s) = schema.as_object() else {
        return json!("mock");
    };
    if let Some(first) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    let kind = s
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object")
        .to_ascii_lowercase();
    match kind.as_str() {
        "object" => {
            let props = s.get("properties").and_then(Value::as_object);
            let names: Vec<&str> = match s.get("required").and_then(Value::as_array) {
                Some(req) => req.iter().filter_map(Value::as_str).collect(),
                None => props
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default(),
            };
            let fields = names.into_iter().map(|name| {
                let sub = props.and_then(|p| p.get(name)).cloned();
                (
                    name.to_string(),
                    fill_schema(&sub.unwrap_or_else(|| json!({}))),
                )
            });
            Value::Object(fields.collect())
        }
        "array" => json!([]),
        "number" | "integer" => s.get("minimum").cloned().unwrap_or(json!(1)),
        "boolean" => json!(false),
        _ => json!("mock"),
    }
}

/// The text of a message's `content`: a string, or the `text` of its parts.
pub fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p.is_object())
            .map(|p| p["text"].as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}
