//! Typed property values: the union every property and relationship value
//! travels as on the wire.

use crate::registry::PropertyType;

/// One property value. `Null` means "not observed".
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    String(String),
    StringList(Vec<String>),
}

impl Value {
    /// The registry type this value has, or `None` for `Null`.
    pub fn ty(&self) -> Option<PropertyType> {
        match self {
            Value::Null => None,
            Value::Bool(_) => Some(PropertyType::Bool),
            Value::Long(_) => Some(PropertyType::Long),
            Value::Double(_) => Some(PropertyType::Double),
            Value::String(_) => Some(PropertyType::String),
            Value::StringList(_) => Some(PropertyType::StringList),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self.ty() {
            None => "null",
            Some(ty) => ty.avro_name(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_long(&self) -> Option<i64> {
        match self {
            Value::Long(v) => Some(*v),
            _ => None,
        }
    }
}

impl PropertyType {
    /// The Avro type name used in schemas and error messages.
    pub const fn avro_name(self) -> &'static str {
        match self {
            PropertyType::Bool => "boolean",
            PropertyType::Long => "long",
            PropertyType::Double => "double",
            PropertyType::String => "string",
            PropertyType::StringList => "array<string>",
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Long(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}
impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Self {
        Value::StringList(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
