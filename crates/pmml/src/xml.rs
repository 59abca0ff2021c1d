//! Safe XML parsing for PMML: size and depth limits, no DTDs or entities, PMML namespaces, and a
//! small element wrapper whose errors name the element and its line.

use std::str::FromStr;

use roxmltree::{Document, Node, ParsingOptions};

use super::error::{Error, ErrorKind, Result};

/// The largest document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 64 << 20;
/// The deepest element nesting accepted (the root element is at depth 1).
pub const MAX_DEPTH: usize = 256;
/// The most XML nodes (elements and texts) a document may have: bounds the parsed tree's memory.
const MAX_NODES: u32 = 4_000_000;
/// The PMML namespaces accepted (PMML 4.1 to 4.4); a document without a namespace is accepted too.
const PMML_NAMESPACES: [&str; 4] = [
    "http://www.dmg.org/PMML-4_1",
    "http://www.dmg.org/PMML-4_2",
    "http://www.dmg.org/PMML-4_3",
    "http://www.dmg.org/PMML-4_4",
];

/// Parses `bytes` as a PMML document: UTF-8, within the size limit, no DTD (so no entity can be
/// declared or expanded, external or not), nesting within [`MAX_DEPTH`], a `PMML` root element in
/// an accepted namespace.
pub fn parse(bytes: &[u8]) -> Result<Document<'_>> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(ErrorKind::TooLarge {
            size: bytes.len(),
            limit: MAX_DOCUMENT_BYTES,
        }
        .into());
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes)?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let document = Document::parse_with_options(text, options)?;
    check_depth(&document)?;
    check_root(El::new(document.root_element()))?;
    Ok(document)
}

/// Fails on the first element nested deeper than [`MAX_DEPTH`], without recursion.
fn check_depth(document: &Document<'_>) -> Result<()> {
    let mut depths = vec![0u32; document.descendants().count() + 1];
    for node in document.descendants() {
        let parent_depth = node
            .parent()
            .map_or(0, |parent| depths[parent.id().get_usize()]);
        let depth = parent_depth + u32::from(node.is_element());
        depths[node.id().get_usize()] = depth;
        if depth as usize > MAX_DEPTH {
            let element = El::new(node);
            return Err(ErrorKind::TooDeep {
                element: element.name().to_owned(),
                line: element.line(),
                depth: depth as usize,
                limit: MAX_DEPTH,
            }
            .into());
        }
    }
    Ok(())
}

/// Checks that the root element is `PMML` in an accepted namespace.
fn check_root(root: El<'_, '_>) -> Result<()> {
    if root.name() != "PMML" {
        return Err(root.invalid(format!(
            "the root element must be <PMML>, not <{}>",
            root.name()
        )));
    }
    match root.node.tag_name().namespace() {
        None => Ok(()),
        Some(namespace) if PMML_NAMESPACES.contains(&namespace) => Ok(()),
        Some(namespace) => Err(root.unsupported(format!(
            "the namespace `{namespace}` (only PMML 4.1 to 4.4)"
        ))),
    }
}

/// A PMML element: its children, attributes and text, with errors that name it and its line.
#[derive(Clone, Copy, Debug)]
pub struct El<'a, 'input> {
    node: Node<'a, 'input>,
}

impl<'a, 'input> El<'a, 'input> {
    /// Wraps an element node.
    pub fn new(node: Node<'a, 'input>) -> Self {
        El { node }
    }

    /// The element's local name (without namespace prefix).
    pub fn name(&self) -> &'a str {
        self.node.tag_name().name()
    }

    /// The element's 1-based line in the document.
    pub fn line(&self) -> u32 {
        self.node
            .document()
            .text_pos_at(self.node.range().start)
            .row
    }

    /// The child elements that belong to PMML, skipping `Extension` elements and elements of
    /// other namespaces (vendor extensions).
    pub fn children(&self) -> impl Iterator<Item = El<'a, 'input>> + 'a {
        let namespace = self.node.tag_name().namespace();
        self.node
            .children()
            .filter(move |child| {
                child.is_element()
                    && child.tag_name().namespace() == namespace
                    && child.tag_name().name() != "Extension"
            })
            .map(El::new)
    }

    /// Every child element, whatever its namespace (the cells of an `InlineTable` row).
    pub fn all_children(&self) -> impl Iterator<Item = El<'a, 'input>> + 'a {
        self.node.children().filter(Node::is_element).map(El::new)
    }

    /// Whether the element's name is `qualified`: a local name, or `prefix:local` where the prefix
    /// stands for the element's namespace (as the cells of sklearn2pmml's InlineTables are named).
    pub fn has_qualified_name(&self, qualified: &str) -> bool {
        let tag = self.node.tag_name();
        match qualified.split_once(':') {
            None => tag.name() == qualified,
            Some((prefix, local)) => {
                tag.name() == local
                    && tag.namespace().is_some()
                    && self.node.lookup_namespace_uri(Some(prefix)) == tag.namespace()
            }
        }
    }

    /// The first child element with the local name `name`.
    pub fn child(&self, name: &str) -> Option<El<'a, 'input>> {
        self.children().find(|child| child.name() == name)
    }

    /// The child elements with the local name `name`.
    pub fn children_named<'n>(&self, name: &'n str) -> impl Iterator<Item = El<'a, 'input>> + 'n
    where
        'a: 'n,
    {
        self.children().filter(move |child| child.name() == name)
    }

    /// The attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&'a str> {
        self.node.attribute(name)
    }

    /// The attribute `name`, or an error naming it when absent.
    pub fn required(&self, name: &str) -> Result<&'a str> {
        self.attr(name)
            .ok_or_else(|| self.invalid(format!("the attribute `{name}` is required")))
    }

    /// The attribute `name` read as a number, if present.
    pub fn parsed<T: FromStr>(&self, name: &str) -> Result<Option<T>> {
        self.attr(name)
            .map(|text| {
                parse_number(text).ok_or_else(|| {
                    self.invalid(format!(
                        "the attribute `{name}` must be a number, not `{text}`"
                    ))
                })
            })
            .transpose()
    }

    /// The attribute `name` read as a number, or `default` when absent.
    pub fn parsed_or<T: FromStr>(&self, name: &str, default: T) -> Result<T> {
        Ok(self.parsed(name)?.unwrap_or(default))
    }

    /// The attribute `name` read as a number, which must be present.
    pub fn required_number<T: FromStr>(&self, name: &str) -> Result<T> {
        self.parsed(name)?
            .ok_or_else(|| self.invalid(format!("the attribute `{name}` is required")))
    }

    /// The element's text content (the concatenation of its text children).
    pub fn text(&self) -> &'a str {
        self.node.text().unwrap_or("")
    }

    /// An error about this element.
    pub fn invalid(&self, message: impl Into<String>) -> Error {
        ErrorKind::Invalid {
            element: self.name().to_owned(),
            line: self.line(),
            message: message.into(),
        }
        .into()
    }

    /// An error saying that this element uses something unsupported.
    pub fn unsupported(&self, what: impl Into<String>) -> Error {
        ErrorKind::Unsupported {
            element: self.name().to_owned(),
            line: self.line(),
            what: what.into(),
        }
        .into()
    }

    /// An error for an attribute whose value is not one of the accepted keywords.
    pub fn bad_keyword(&self, attribute: &str, value: &str) -> Error {
        self.unsupported(format!("{attribute}=\"{value}\""))
    }
}

/// Reads a PMML number (`1`, `-2.5`, `1E-3`, `INF`, `NaN`), ignoring surrounding whitespace.
pub fn parse_number<T: FromStr>(text: &str) -> Option<T> {
    text.trim().parse().ok()
}
