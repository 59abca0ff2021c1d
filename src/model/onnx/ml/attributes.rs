//! Reading an ONNX-ML node's attributes: every attribute must be one its operator defines, and
//! of the type the operator gives it; an absent list reads as empty.

use anyhow::{ensure, Context, Result};
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};

/// A node's attributes, checked against the names its operator defines.
pub struct Attributes<'a> {
    node: &'a NodeProto,
}

impl<'a> Attributes<'a> {
    /// Fails on an attribute that is not in `known`.
    pub fn new(node: &'a NodeProto, known: &[&str]) -> Result<Self> {
        for attribute in &node.attribute {
            let name = attribute.name.as_str();
            ensure!(known.contains(&name), "unknown attribute `{name}`");
        }
        Ok(Attributes { node })
    }

    /// The attribute `name`, if present, checked to be of type `kind`.
    pub fn find(&self, name: &str, kind: AttributeType) -> Result<Option<&'a AttributeProto>> {
        let Some(attribute) = self.node.attribute.iter().find(|a| a.name == name) else {
            return Ok(None);
        };
        let declared = attribute.r#type;
        ensure!(
            declared == kind as i32 || declared == AttributeType::Undefined as i32,
            "attribute `{name}` should be {}, not {}",
            kind.as_str_name(),
            AttributeType::try_from(declared).map_or("of an unknown type", |t| t.as_str_name())
        );
        Ok(Some(attribute))
    }

    /// An integer list; empty when absent.
    pub fn ints(&self, name: &str) -> Result<&'a [i64]> {
        Ok(self
            .find(name, AttributeType::Ints)?
            .map_or(&[], |a| a.ints.as_slice()))
    }

    /// A float list; empty when absent.
    pub fn floats(&self, name: &str) -> Result<&'a [f32]> {
        Ok(self
            .find(name, AttributeType::Floats)?
            .map_or(&[], |a| a.floats.as_slice()))
    }

    /// A string list; empty when absent.
    pub fn strings(&self, name: &str) -> Result<Vec<&'a str>> {
        let Some(attribute) = self.find(name, AttributeType::Strings)? else {
            return Ok(Vec::new());
        };
        attribute
            .strings
            .iter()
            .map(|bytes| std::str::from_utf8(bytes).with_context(|| format!("{name}: not UTF-8")))
            .collect()
    }

    /// An integer.
    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.find(name, AttributeType::Int)?.map(|a| a.i))
    }

    /// A string.
    pub fn string(&self, name: &str) -> Result<Option<&'a str>> {
        self.find(name, AttributeType::String)?
            .map(|a| std::str::from_utf8(&a.s).with_context(|| format!("{name}: not UTF-8")))
            .transpose()
    }

    /// A tensor.
    pub fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>> {
        self.find(name, AttributeType::Tensor)?
            .map(|a| a.t.as_ref().with_context(|| format!("{name}: no tensor")))
            .transpose()
    }
}
