//! Typed reads of a GGUF file's metadata, each failure a [`ModelError::File`] naming the key.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;

use crate::model::ModelError;

/// A GGUF file's metadata and its path (for the error messages).
pub(super) struct Meta<'a> {
    pub(super) path: &'a Path,
    pub(super) values: &'a HashMap<String, Value>,
}

/// The integer in `v`, whatever its width.
fn integer(v: &Value) -> Option<i128> {
    Some(match v {
        Value::U8(x) => i128::from(*x),
        Value::I8(x) => i128::from(*x),
        Value::U16(x) => i128::from(*x),
        Value::I16(x) => i128::from(*x),
        Value::U32(x) => i128::from(*x),
        Value::I32(x) => i128::from(*x),
        Value::U64(x) => i128::from(*x),
        Value::I64(x) => i128::from(*x),
        _ => return None,
    })
}

impl<'a> Meta<'a> {
    /// A [`ModelError::File`] about this file.
    pub(super) fn error(&self, message: impl Into<String>) -> ModelError {
        ModelError::File { path: self.path.to_owned(), message: message.into() }
    }

    fn wrong(&self, key: &str, v: &Value, expected: &str) -> ModelError {
        self.error(format!("metadata `{key}` is a {:?}, expected {expected}", v.value_type()))
    }

    fn required<T>(&self, key: &str, v: Option<T>) -> Result<T, ModelError> {
        v.ok_or_else(|| self.error(format!("metadata `{key}` is missing")))
    }

    /// A non-negative integer, if present.
    pub(super) fn opt_usize(&self, key: &str) -> Result<Option<usize>, ModelError> {
        let Some(v) = self.values.get(key) else { return Ok(None) };
        integer(v)
            .and_then(|i| usize::try_from(i).ok())
            .map(Some)
            .ok_or_else(|| self.wrong(key, v, "a non-negative integer"))
    }

    /// A non-negative integer.
    pub(super) fn usize(&self, key: &str) -> Result<usize, ModelError> {
        self.required(key, self.opt_usize(key)?)
    }

    /// A token id, if present.
    pub(super) fn opt_id(&self, key: &str) -> Result<Option<u32>, ModelError> {
        let Some(v) = self.values.get(key) else { return Ok(None) };
        integer(v).and_then(|i| u32::try_from(i).ok()).map(Some).ok_or_else(|| self.wrong(key, v, "a token id"))
    }

    /// A number, if present; an f32 is read as the shortest decimal that rounds to it (the
    /// `1e-5` it was written from, not `9.99999974e-6`).
    pub(super) fn opt_f64(&self, key: &str) -> Result<Option<f64>, ModelError> {
        let Some(v) = self.values.get(key) else { return Ok(None) };
        match v {
            Value::F32(x) => Ok(Some(x.to_string().parse::<f64>().unwrap_or(f64::from(*x)))),
            Value::F64(x) => Ok(Some(*x)),
            other => integer(other).map(|i| Some(i as f64)).ok_or_else(|| self.wrong(key, v, "a number")),
        }
    }

    /// A boolean, if present.
    pub(super) fn opt_bool(&self, key: &str) -> Result<Option<bool>, ModelError> {
        match self.values.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(key, v, "a boolean")),
        }
    }

    /// A string, if present.
    pub(super) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, ModelError> {
        match self.values.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(key, v, "a string")),
        }
    }

    /// A string.
    pub(super) fn str(&self, key: &str) -> Result<&'a str, ModelError> {
        self.required(key, self.opt_str(key)?)
    }

    fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, ModelError> {
        match self.values.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(self.wrong(key, v, "an array")),
        }
    }

    /// An array of strings.
    pub(super) fn strings(&self, key: &str) -> Result<Vec<&'a str>, ModelError> {
        let a = self.required(key, self.array(key)?)?;
        a.iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.as_str()),
                v => Err(self.wrong(key, v, "an array of strings")),
            })
            .collect()
    }

    /// An array of integers, if present.
    pub(super) fn opt_ints(&self, key: &str) -> Result<Option<Vec<i128>>, ModelError> {
        let Some(a) = self.array(key)? else { return Ok(None) };
        a.iter()
            .map(|v| integer(v).ok_or_else(|| self.wrong(key, v, "an array of integers")))
            .collect::<Result<_, _>>()
            .map(Some)
    }
}
