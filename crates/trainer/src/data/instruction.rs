//! `data: {kind: instruction}`: instruction tuning. Each JSONL record is `{"prompt", "response"}`
//! (the conversation `[user: prompt, assistant: response]`) or `{"messages": [{"role",
//! "content"}, …]}` ending with the assistant's message. The conversation is rendered with the
//! model's chat template; the loss is on the last assistant message's tokens only.
//!
//! The prompt is the conversation without its last message, rendered with
//! `add_generation_prompt`; the full conversation's tokens must start with the prompt's (the
//! template is prefix-stable), and the targets after them are the response. Sequences are
//! truncated to `max_len` tokens; a record whose prompt alone fills `max_len` has no response
//! left and is skipped (counted in the description).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::rows::{self, PathList};
use super::{DataError, Dataset, Holdout, LoadContext};

/// `kind: instruction`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstructionConfig {
    /// The JSONL file (`.json`: one array of records), or a list of files.
    pub path: PathList,
    /// Longest sequence in tokens, prompt and response together (at most the model's context;
    /// default 512, or the model's context if shorter): longer ones are cut at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// Held-out file(s) of records. Give at most one of `val_path`, `val_size` and
    /// `val_fraction` (default: `val_fraction` 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_path: Option<PathList>,
    /// Number of records of `path` held out for validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_size: Option<usize>,
    /// Fraction of the records of `path` held out for validation, in `(0, 1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_fraction: Option<f64>,
    /// Seed of the train/validation split (default 0; independent of the run's `seed`).
    #[serde(default)]
    pub split_seed: u64,
}

/// `max_len` when the config gives none (or the model's context, if shorter).
#[cfg(feature = "hub")]
const DEFAULT_MAX_LEN: usize = 512;

impl InstructionConfig {
    /// Problems found without reading the files.
    pub fn issues(&self) -> Vec<crate::FieldIssue> {
        let mut out = Vec::new();
        rows::check_paths(&mut out, "data.path", &self.path);
        out.extend(Holdout::issues(self.val_path.as_ref(), self.val_size, self.val_fraction));
        if self.max_len.is_some_and(|n| n < 2) {
            out.push(crate::FieldIssue::new("data.max_len", "must be >= 2"));
        }
        out
    }
}

/// Loads the data with the causal LM tokenizer of `ctx`.
pub(crate) fn load_with(c: &InstructionConfig, ctx: &LoadContext) -> Result<Box<dyn Dataset>, DataError> {
    #[cfg(feature = "hub")]
    {
        let tok = super::lm_tokenizer(ctx, "instruction")?;
        Ok(Box::new(load(c, tok, ctx.max_context)?))
    }
    #[cfg(not(feature = "hub"))]
    {
        let _ = (c, ctx);
        Err(super::needs_hub("instruction"))
    }
}

#[cfg(feature = "hub")]
pub use loading::load;

#[cfg(feature = "hub")]
mod loading {
    use serde_json::Value;

    use super::super::causal::{self, CausalData, Sequence};
    use super::super::chat::{ChatTemplate, Message};
    use super::super::lm_text::max_len;
    use super::super::rows::{self, Format, PathList, Record};
    use super::super::{DataError, Holdout};
    use super::{DEFAULT_MAX_LEN, InstructionConfig};
    use crate::lm_tokenizer::LmTokenizer;

    /// What renders and tokenizes records.
    struct Encoder<'a> {
        tok: &'a LmTokenizer,
        template: ChatTemplate,
        bos: String,
        max_len: usize,
    }

    /// Sequences read from files, and how many records were skipped.
    struct Read {
        sequences: Vec<Sequence>,
        skipped: usize,
    }

    /// Reads, renders, tokenizes and splits the records; `max_context` (the model's) bounds
    /// `max_len`.
    pub fn load(c: &InstructionConfig, tok: &LmTokenizer, max_context: Option<usize>) -> Result<CausalData, DataError> {
        let max_len = max_len(c.max_len, DEFAULT_MAX_LEN, "data.max_len", max_context)?;
        let source = tok.chat_template.as_deref().ok_or_else(|| {
            DataError::field("data.kind", "instruction needs the model's chat template; this model has none")
        })?;
        let template = ChatTemplate::new(source).map_err(|e| DataError::field("model", e))?;
        let bos = tok.bos.as_ref().map(|(t, _)| t.clone()).unwrap_or_default();
        let enc = Encoder { tok, template, bos, max_len };
        let main = read(&enc, &c.path, "data.path")?;
        let val_files = c.val_path.as_ref().map(|p| read(&enc, p, "data.val_path")).transpose()?;
        let skipped = main.skipped + val_files.as_ref().map_or(0, |v| v.skipped);
        let holdout = Holdout::of(c.val_path.as_ref(), c.val_size, c.val_fraction);
        let (train, val) =
            causal::hold_out(main.sequences, val_files.map(|v| v.sequences), holdout, c.split_seed, "records")?;
        let counted: usize = train.iter().chain(&val).map(Sequence::counted).sum();
        let mut source = c.path.describe();
        if let Some(v) = &c.val_path {
            source = format!("{source}; validation: {}", v.describe());
        }
        let skipped = match skipped {
            0 => String::new(),
            n => format!("; skipped {n} whose prompt fills max_len"),
        };
        let description = format!(
            "instruction ({source}): {} train / {} val conversations of at most {} tokens, {counted} response tokens{skipped}",
            train.len(),
            val.len(),
            max_len
        );
        Ok(CausalData::new(train, val, tok.pad, tok.vocab_size(), description))
    }

    /// The sequences of the records of the files of `paths` (the config field `field`).
    fn read(enc: &Encoder<'_>, paths: &PathList, field: &str) -> Result<Read, DataError> {
        let mut out = Read { sequences: Vec::new(), skipped: 0 };
        let mut records = 0;
        for path in paths.paths() {
            let format = match Format::of(&path, None) {
                Ok(Format::Json) => Format::Json,
                _ => Format::Jsonl,
            };
            for r in rows::read(&path, format).map_err(|m| DataError::field(field, m))? {
                records += 1;
                let at = |m: String| DataError::field(field, format!("{}, {}: {m}", path.display(), r.place));
                let messages = conversation(&r).map_err(at)?;
                match enc.sequence(&messages).map_err(at)? {
                    Some(s) => out.sequences.push(s),
                    None => out.skipped += 1,
                }
            }
        }
        if out.sequences.is_empty() {
            let why = if records == 0 {
                "no records: the data set is empty".to_owned()
            } else {
                format!("all {records} records have prompts of max_len = {} tokens or more", enc.max_len)
            };
            return Err(DataError::field(field, format!("{}: {why}", paths.describe())));
        }
        Ok(out)
    }

    impl Encoder<'_> {
        /// The tokens of a conversation, the last message's counted; `None` when truncating to
        /// `max_len` leaves no response token.
        fn sequence(&self, messages: &[Message]) -> Result<Option<Sequence>, String> {
            let (eos, last) = (self.tok.eos.0.as_str(), messages.len().saturating_sub(1));
            let prompt = self.template.render(&messages[..last], true, &self.bos, eos)?;
            let full = self.template.render(messages, false, &self.bos, eos)?;
            if !full.starts_with(&prompt) {
                return Err(format!(
                    "the chat template is not prefix-stable: the conversation rendered in full does not start with \
                     its prompt rendered with add_generation_prompt (prompt {:?}, full {:?}), so the response \
                     tokens cannot be told apart",
                    tail(&prompt),
                    tail(&full)
                ));
            }
            // The prompt and the rest are tokenized apart and joined (as torchtune tokenizes each
            // message), so no token spans the boundary (e.g. ChatML's `assistant\n` followed by
            // an indented response would otherwise merge `\n` and the indent into one token).
            let prompt_ids = self.tok.encode(&prompt, false)?;
            let mut ids = prompt_ids.clone();
            ids.extend(self.tok.encode(&full[prompt.len()..], false)?);
            ids.truncate(self.max_len);
            if prompt_ids.len() >= ids.len() {
                return Ok(None);
            }
            Ok(Some(Sequence { ids, first_target: prompt_ids.len().max(1) }))
        }
    }

    /// The last 40 characters of `s`, for messages.
    fn tail(s: &str) -> String {
        let n = s.chars().count();
        s.chars().skip(n.saturating_sub(40)).collect()
    }

    /// The conversation of a record: `messages`, or `prompt` and `response`.
    fn conversation(r: &Record) -> Result<Vec<Message>, String> {
        let f = &r.fields;
        if let Some(messages) = f.get("messages") {
            return messages_of(messages);
        }
        match (f.get("prompt"), f.get("response")) {
            (Some(Value::String(p)), Some(Value::String(a))) => {
                Ok(vec![Message::new("user", p.as_str()), Message::new("assistant", a.as_str())])
            }
            (Some(p), Some(a)) => Err(format!(
                "`prompt` and `response` must be strings, got {} and {}",
                rows::kind_of(p),
                rows::kind_of(a)
            )),
            (p, _) => {
                let has = if p.is_some() { "has `prompt` but no `response`" } else { "has neither form" };
                Err(format!(
                    "the record {has}: give `prompt` and `response`, or `messages` (a list of {{\"role\", \"content\"}} \
                     ending with the assistant's)"
                ))
            }
        }
    }

    /// The messages of a `messages` field: objects with string `role` and `content`, the last
    /// one the assistant's.
    fn messages_of(v: &Value) -> Result<Vec<Message>, String> {
        let Value::Array(items) = v else {
            return Err(format!("`messages` is {}, expected a list of {{\"role\", \"content\"}}", rows::kind_of(v)));
        };
        let messages = items
            .iter()
            .enumerate()
            .map(|(i, m)| match (m.get("role"), m.get("content")) {
                (Some(Value::String(role)), Some(Value::String(content))) => {
                    Ok(Message::new(role.as_str(), content.as_str()))
                }
                _ => Err(format!("messages[{i}] needs string fields `role` and `content`")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        match messages.last() {
            None => Err("`messages` is empty".to_owned()),
            Some(m) if m.role != "assistant" => Err(format!(
                "the last message is the {}'s; it must be the assistant's (the response the loss is on)",
                m.role
            )),
            Some(_) => Ok(messages),
        }
    }
}

#[cfg(all(test, feature = "hub"))]
mod tests {
    use std::path::Path;

    use candle_core::Device;

    use super::*;
    use crate::data::causal::test_tokenizer::{EOS, IM_START, PAD, tokenizer, with_template};
    use crate::data::{Inputs, Labels, Split};

    fn config(yaml: &str) -> InstructionConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn write(dir: &Path, name: &str, text: &str) -> String {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    /// `<|im_start|>role\n` + text + `<|im_end|>\n` as ids (no `he` in the texts: one id a byte).
    fn turn(role: &str, text: &str) -> Vec<u32> {
        let mut ids = vec![IM_START];
        ids.extend(format!("{role}\n{text}").bytes().map(u32::from));
        ids.extend([EOS, 10]);
        ids
    }

    /// (ids, counted target ids) of each train sequence, in order.
    fn loss_targets(d: &crate::data::causal::CausalData) -> Vec<(Vec<u32>, Vec<u32>)> {
        let n = d.len(Split::Train);
        let b = d.batch(Split::Train, &(0..n).collect::<Vec<_>>(), &Device::Cpu).unwrap();
        let Inputs::Causal { ids, loss_mask, .. } = &b.inputs else { panic!("causal") };
        let (ids, mask, targets) =
            (ids.to_vec2::<u32>().unwrap(), loss_mask.to_vec2::<f32>().unwrap(), b.targets.to_vec2::<u32>().unwrap());
        (0..n)
            .map(|i| {
                let counted = targets[i].iter().zip(&mask[i]).filter(|(_, m)| **m == 1.0).map(|(t, _)| *t).collect();
                (ids[i].clone(), counted)
            })
            .collect()
    }

    #[test]
    fn loss_is_on_the_response_tokens_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "t.jsonl",
            "{\"prompt\": \"2+2?\", \"response\": \"4\"}\n\
             {\"messages\": [{\"role\": \"system\", \"content\": \"Be short\"}, {\"role\": \"user\", \"content\": \"Sky?\"}, {\"role\": \"assistant\", \"content\": \"Blue\"}]}\n",
        );
        let v = write(dir.path(), "v.jsonl", "{\"prompt\": \"x\", \"response\": \"y\"}\n");
        let d =
            load(&config(&format!("{{path: '{p}', val_path: '{v}', max_len: 64}}")), &tokenizer(), Some(100)).unwrap();
        assert_eq!(d.labels(), Labels::NextToken { vocab_size: 260 });
        let got = loss_targets(&d);
        // The prompt: the turns before the response and `<|im_start|>assistant\n`; the counted
        // targets: the response, `<|im_end|>` and the final newline.
        let mut first = turn("user", "2+2?");
        first.extend(turn("assistant", "4"));
        let mut second = turn("system", "Be short");
        second.extend(turn("user", "Sky?"));
        second.extend(turn("assistant", "Blue"));
        assert_eq!(got[0].1, [52, EOS, 10]);
        assert_eq!(got[1].1, [66, 108, 117, 101, EOS, 10]);
        assert_eq!(got[1].0, second);
        assert_eq!(got[0].0[..first.len()], first[..]);
        assert!(got[0].0[first.len()..].iter().all(|&id| id == PAD), "right-padded");

        let b = d.batch(Split::Train, &[0, 1], &Device::Cpu).unwrap();
        let Inputs::Causal { mask, loss_mask, .. } = &b.inputs else { panic!("causal") };
        let (mask, loss) = (mask.to_vec2::<u32>().unwrap(), loss_mask.to_vec2::<f32>().unwrap());
        let prompt_len = first.len() - 3; // `4<|im_end|>\n` is the response part of the ids
        let expected: Vec<f32> =
            (0..second.len()).map(|t| if t + 1 >= prompt_len && t + 1 < first.len() { 1.0 } else { 0.0 }).collect();
        assert_eq!(loss[0], expected, "prompt 0, response 1, padding 0");
        assert_eq!(mask[0].iter().sum::<u32>() as usize, first.len());
        assert_eq!(d.len(Split::Val), 1);
        assert!(d.describe().contains("2 train / 1 val conversations of at most 64 tokens, 12 response tokens"));
    }

    #[test]
    fn changing_the_prompt_leaves_the_counted_targets_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.jsonl", "{\"prompt\": \"Say hi\", \"response\": \"hello there\"}\n");
        let b = write(
            dir.path(),
            "b.jsonl",
            "{\"prompt\": \"A much longer question, is it not?\", \"response\": \"hello there\"}\n",
        );
        let v = write(dir.path(), "v.jsonl", "{\"prompt\": \"x\", \"response\": \"y\"}\n");
        let load_one =
            |p: &str| load(&config(&format!("{{path: '{p}', val_path: '{v}'}}")), &tokenizer(), None).unwrap();
        let (ta, tb) = (loss_targets(&load_one(&a)), loss_targets(&load_one(&b)));
        assert_ne!(ta[0].0.len(), tb[0].0.len());
        assert_eq!(ta[0].1, tb[0].1);
        assert_eq!(ta[0].1.len(), "hello there".len() - 2 + 2, "`he` is one token; then <|im_end|> and \\n");
    }

    #[test]
    fn truncates_to_max_len_and_skips_records_without_response() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "t.jsonl",
            "{\"prompt\": \"q\", \"response\": \"a long answer\"}\n{\"prompt\": \"a very long question indeed\", \"response\": \"a\"}\n{\"prompt\": \"q\", \"response\": \"r\"}\n",
        );
        // Each prompt: 20 tokens of ChatML and its text's bytes; record 1 is cut to 30 tokens (10
        // counted),
        // record 2's prompt is longer than 30.
        let d = load(&config(&format!("{{path: '{p}', max_len: 30, val_size: 1}}")), &tokenizer(), None).unwrap();
        assert_eq!((d.len(Split::Train), d.len(Split::Val)), (1, 1));
        assert!(d.sequences(Split::Train).iter().chain(d.sequences(Split::Val)).all(|s| s.ids.len() <= 30));
        let counted: Vec<usize> =
            d.sequences(Split::Train).iter().chain(d.sequences(Split::Val)).map(|s| s.counted()).collect();
        assert!(counted == [10, 3] || counted == [3, 10], "{counted:?}");
        // The default max_len is the model's context when that is below 512.
        let d = load(&config(&format!("{{path: '{p}', val_size: 1}}")), &tokenizer(), Some(30)).unwrap();
        assert!(d.describe().contains("conversations of at most 30 tokens"), "{}", d.describe());
        assert!(d.describe().ends_with("; skipped 1 whose prompt fills max_len"), "{}", d.describe());
        let e = load(&config(&format!("{{path: '{p}', max_len: 5}}")), &tokenizer(), None).err().unwrap().to_string();
        assert_eq!(e, format!("data.path: {p}: all 3 records have prompts of max_len = 5 tokens or more"));
    }

    fn error(lines: &str, tok: &crate::lm_tokenizer::LmTokenizer) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "train.jsonl", lines);
        let e = load(&config(&format!("{{path: '{p}'}}")), tok, Some(1024)).err().unwrap().to_string();
        e.replace(&p, "train.jsonl")
    }

    #[test]
    fn errors_are_clear() {
        let ok = "{\"prompt\": \"a\", \"response\": \"b\"}\n";
        let t = tokenizer();
        assert_eq!(
            error(&format!("{ok}{ok}\n{{\"text\": \"no form\"}}\n"), &t),
            "data.path: train.jsonl, line 4: the record has neither form: give `prompt` and `response`, or \
             `messages` (a list of {\"role\", \"content\"} ending with the assistant's)"
        );
        assert!(error("{\"prompt\": \"a\"}\n", &t).ends_with("line 1: the record has `prompt` but no `response`: give `prompt` and `response`, or `messages` (a list of {\"role\", \"content\"} ending with the assistant's)"));
        assert_eq!(
            error("{\"prompt\": 1, \"response\": \"b\"}\n", &t),
            "data.path: train.jsonl, line 1: `prompt` and `response` must be strings, got a number and a string"
        );
        assert_eq!(
            error("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n", &t),
            "data.path: train.jsonl, line 1: the last message is the user's; it must be the assistant's (the \
             response the loss is on)"
        );
        assert_eq!(
            error("{\"messages\": [{\"role\": \"user\"}]}\n", &t),
            "data.path: train.jsonl, line 1: messages[0] needs string fields `role` and `content`"
        );
        assert_eq!(error("{\"messages\": []}\n", &t), "data.path: train.jsonl, line 1: `messages` is empty");
        assert_eq!(error("\n", &t), "data.path: train.jsonl: no records: the data set is empty");
        assert_eq!(
            error(ok, &with_template(None)),
            "data.kind: instruction needs the model's chat template; this model has none"
        );
        // A template that puts the generation prompt somewhere the full rendering does not.
        let unstable = "{% for m in messages %}{{ m.content }}{% endfor %}{% if add_generation_prompt %}>>{% endif %}";
        assert!(error(ok, &with_template(Some(unstable))).starts_with(
            "data.path: train.jsonl, line 1: the chat template is not prefix-stable: the conversation rendered in full \
             does not start with its prompt rendered with add_generation_prompt (prompt \"a>>\", full \"ab\")"
        ));
        let refusing = "{{ raise_exception('only system messages') }}";
        assert_eq!(
            error(ok, &with_template(Some(refusing))),
            "data.path: train.jsonl, line 1: the chat template refused the conversation: only system messages"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "t.jsonl", ok);
        let e = load(&config(&format!("{{path: '{p}', max_len: 4096}}")), &t, Some(2048)).err().unwrap().to_string();
        assert_eq!(e, "data.max_len: 4096 is above the model's context of 2048 tokens (max_position_embeddings)");
        let e = crate::data::DataConfig::Instruction(config(&format!("{{path: '{p}'}}"))).load().err().unwrap();
        assert_eq!(
            e.to_string(),
            "data.kind: instruction needs model.kind: causal_lm (a causal language model and its tokenizer)"
        );
        let issues: Vec<String> =
            config("{path: a.jsonl, max_len: 1, val_size: 0}").issues().into_iter().map(|i| i.to_string()).collect();
        assert_eq!(issues, ["data.val_size: must be >= 1", "data.max_len: must be >= 2"]);
    }
}
