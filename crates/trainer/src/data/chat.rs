//! Chat templates: a model's Jinja template (`tokenizer.chat_template`) rendered the way Hugging
//! Face transformers renders it (`apply_chat_template`): `trim_blocks` and `lstrip_blocks` on,
//! loop controls (`{% break %}`, `{% continue %}`), Python string methods (`.strip()`,
//! `.startswith()`…), the variables `messages`, `add_generation_prompt`, `bos_token` and
//! `eos_token`, and the function `raise_exception(message)`.

use std::collections::BTreeMap;
use std::fmt;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Error, ErrorKind, Value};

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who speaks: `system`, `user`, `assistant` (the template decides what it accepts).
    pub role: String,
    /// What is said.
    pub content: String,
}

impl Message {
    /// A message of `role` saying `content`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self { role: role.into(), content: content.into() }
    }

    fn to_value(&self) -> Value {
        let map: BTreeMap<String, Value> = [
            ("role".to_owned(), Value::from(self.role.as_str())),
            ("content".to_owned(), Value::from(self.content.as_str())),
        ]
        .into_iter()
        .collect();
        Value::from(map)
    }
}

/// The message a template passed to `raise_exception` (kept apart from minijinja's own errors).
#[derive(Debug)]
struct Raised(String);

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

/// A parsed chat template, to render many conversations.
pub struct ChatTemplate {
    env: Environment<'static>,
}

/// The name of the one template of a [`ChatTemplate`]'s environment (shown in error locations).
const NAME: &str = "chat_template";

impl ChatTemplate {
    /// Parses `source`; a syntax error names the line.
    pub fn new(source: &str) -> Result<Self, String> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| format!("configuring the template engine: {e}"))?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, "raise_exception").with_source(Raised(message)))
        });
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|e| format!("the chat template does not parse: {}", describe(&e)))?;
        Ok(Self { env })
    }

    /// The text of `messages`, followed by the start of an assistant turn when
    /// `add_generation_prompt`. `bos` and `eos` are the model's special-token texts.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        bos: &str,
        eos: &str,
    ) -> Result<String, String> {
        let template = self.env.get_template(NAME).map_err(|e| describe(&e))?;
        let messages: Vec<Value> = messages.iter().map(Message::to_value).collect();
        let ctx = minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => bos,
            eos_token => eos,
        };
        template.render(ctx).map_err(|e| match raised(&e) {
            Some(message) => format!("the chat template refused the conversation: {message}"),
            None => format!("rendering the chat template: {}", describe(&e)),
        })
    }
}

/// Renders `messages` with the chat template `template` (see [`ChatTemplate::render`]).
pub fn render(
    template: &str,
    messages: &[Message],
    add_generation_prompt: bool,
    bos: &str,
    eos: &str,
) -> Result<String, String> {
    ChatTemplate::new(template)?.render(messages, add_generation_prompt, bos, eos)
}

/// The message of a `raise_exception` call behind `e`, if that is what failed.
fn raised(e: &Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Raised>() {
            return Some(r.0.clone());
        }
        source = s.source();
    }
    None
}

/// A minijinja error in one line: its kind, detail and line.
fn describe(e: &Error) -> String {
    let mut out = e.to_string();
    if let Some(line) = e.line().filter(|_| !out.contains("line")) {
        out.push_str(&format!(" (line {line})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = include_str!("../../tests/data/smollm2_chat_template.jinja");
    const PYCOMPAT: &str = include_str!("../../tests/data/pycompat_chat_template.jinja");
    const RENDERS: &str = include_str!("../../tests/data/chat_renders.json");

    fn messages(v: &serde_json::Value) -> Vec<Message> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
            .collect()
    }

    /// Every rendering scripts/py/chat_template_fixtures.py recorded with Python's jinja2, as
    /// transformers configures it, is reproduced exactly.
    #[test]
    fn renders_like_transformers_jinja2() {
        let fixtures: serde_json::Value = serde_json::from_str(RENDERS).unwrap();
        let cases = fixtures["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 16);
        let (smollm2, pycompat) = (ChatTemplate::new(SMOLLM2).unwrap(), ChatTemplate::new(PYCOMPAT).unwrap());
        for case in cases {
            let template = match case["template"].as_str().unwrap() {
                "smollm2_chat_template.jinja" => &smollm2,
                _ => &pycompat,
            };
            let add = case["add_generation_prompt"].as_bool().unwrap();
            let got = template.render(&messages(&case["messages"]), add, "<s>", "</s>").unwrap();
            assert_eq!(got, case["expected"].as_str().unwrap(), "{case}");
        }
    }

    #[test]
    fn smollm2_chatml_with_and_without_a_system_message() {
        let user = [Message::new("user", "Hi")];
        let got = render(SMOLLM2, &user, true, "<|im_start|>", "<|im_end|>").unwrap();
        assert_eq!(
            got,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let with_system = [Message::new("system", "Be brief."), Message::new("user", "Hi")];
        let got = render(SMOLLM2, &with_system, false, "", "").unwrap();
        assert_eq!(got, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
    }

    #[test]
    fn raise_exception_and_syntax_errors_are_clear() {
        let fixtures: serde_json::Value = serde_json::from_str(RENDERS).unwrap();
        let e = render(PYCOMPAT, &[Message::new("assistant", "hi")], false, "", "").unwrap_err();
        assert_eq!(e, format!("the chat template refused the conversation: {}", fixtures["refused"].as_str().unwrap()));
        let e = render("{% for m in messages %}{{ m.content }}", &[], false, "", "").unwrap_err();
        assert!(e.starts_with("the chat template does not parse: syntax error"), "{e}");
        let e = render("{{ messages[0].content.nosuchmethod() }}", &[Message::new("user", "x")], false, "", "")
            .unwrap_err();
        assert!(e.starts_with("rendering the chat template: unknown method"), "{e}");
    }
}
