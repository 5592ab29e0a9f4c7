//! Personalised text: `{{column}}` and `{{column|default}}` placeholders filled from a
//! recipient file's columns (docs/api.md, "Placeholders").
//!
//! A template is parsed once, bound once to the file's header (a missing column is the
//! caller's error, found before any row is read), then rendered per row into a reused buffer.
//! Whether the rendered text is a valid message is [`crate::MessageText`]'s rule, applied per
//! distinct text by the planner.

use std::fmt;

/// Longest column name a placeholder may name, in bytes: far beyond any CRM's, and it keeps
/// an error that echoes one short.
pub const MAX_COLUMN_NAME: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field {
        column: String,
        default: Option<String>,
    },
}

/// A parsed text with placeholders; a text without any is a template of one literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("has a '{{{{' at character {at} that is never closed with '}}}}'")]
    Unclosed { at: usize },
    #[error("has an empty placeholder at character {at}")]
    EmptyName { at: usize },
    #[error(
        "has a placeholder at character {at} whose column name is longer than {MAX_COLUMN_NAME} bytes"
    )]
    LongName { at: usize },
}

impl Template {
    /// Parses `{{name}}` and `{{name|default}}`; names and defaults are trimmed. Text outside
    /// placeholders is kept exactly. Positions in errors count characters from 1.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut consumed_chars = 0;
        while let Some(open) = rest.find("{{") {
            let at = consumed_chars + rest[..open].chars().count() + 1;
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let inner_start = open + 2;
            let close = rest[inner_start..]
                .find("}}")
                .ok_or(TemplateError::Unclosed { at })?;
            let inner = &rest[inner_start..inner_start + close];
            let (name, default) = match inner.split_once('|') {
                Some((name, default)) => (name.trim(), Some(default.trim().to_owned())),
                None => (inner.trim(), None),
            };
            if name.is_empty() {
                return Err(TemplateError::EmptyName { at });
            }
            if name.len() > MAX_COLUMN_NAME {
                return Err(TemplateError::LongName { at });
            }
            parts.push(Part::Field {
                column: name.to_owned(),
                default,
            });
            let end = inner_start + close + 2;
            consumed_chars += rest[..end].chars().count();
            rest = &rest[end..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// The columns the placeholders name, in order of first use, each once.
    pub fn columns(&self) -> Vec<&str> {
        let mut columns: Vec<&str> = Vec::new();
        for part in &self.parts {
            if let Part::Field { column, .. } = part
                && !columns.contains(&column.as_str())
            {
                columns.push(column);
            }
        }
        columns
    }

    pub fn is_personalised(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Field { .. }))
    }

    /// Resolves each placeholder to its column's index in `header` (names compared after
    /// trimming, exactly otherwise). The error lists every missing column.
    pub fn bind(&self, header: &[&str]) -> Result<BoundTemplate, MissingColumns> {
        let find = |name: &str| header.iter().position(|h| h.trim() == name);
        let mut missing = Vec::new();
        let parts = self
            .parts
            .iter()
            .filter_map(|part| match part {
                Part::Literal(text) => Some(BoundPart::Literal(text.clone())),
                Part::Field { column, default } => match find(column) {
                    Some(index) => Some(BoundPart::Field {
                        index,
                        column: column.clone(),
                        default: default.clone(),
                    }),
                    None => {
                        if !missing.contains(column) {
                            missing.push(column.clone());
                        }
                        None
                    }
                },
            })
            .collect();
        if missing.is_empty() {
            Ok(BoundTemplate { parts })
        } else {
            Err(MissingColumns(missing))
        }
    }
}

/// Columns a template names that the file's header lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingColumns(pub Vec<String>);

impl fmt::Display for MissingColumns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.0.iter().map(|c| format!("{{{{{c}}}}}")).collect();
        write!(
            f,
            "names {} but the file has no such column",
            names.join(", ")
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum BoundPart {
    Literal(String),
    Field {
        index: usize,
        column: String,
        default: Option<String>,
    },
}

/// A template whose placeholders point at column indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundTemplate {
    parts: Vec<BoundPart>,
}

/// A row has no value (absent or blank) for a placeholder without a default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("has no value for {{{{{column}}}}}, which has no default")]
pub struct MissingValue {
    pub column: String,
}

impl BoundTemplate {
    /// Renders into `out` (cleared first) with `field(i)` giving column `i` of the row, or
    /// None past its end. Values are trimmed; a blank one takes the default.
    pub fn render<'r>(
        &self,
        field: impl Fn(usize) -> Option<&'r str>,
        out: &mut String,
    ) -> Result<(), MissingValue> {
        out.clear();
        for part in &self.parts {
            match part {
                BoundPart::Literal(text) => out.push_str(text),
                BoundPart::Field {
                    index,
                    column,
                    default,
                } => match (
                    field(*index).map(str::trim).filter(|v| !v.is_empty()),
                    default,
                ) {
                    (Some(value), _) => out.push_str(value),
                    (None, Some(default)) => out.push_str(default),
                    (None, None) => {
                        return Err(MissingValue {
                            column: column.clone(),
                        });
                    }
                },
            }
        }
        Ok(())
    }

    pub fn is_personalised(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, BoundPart::Field { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, header: &[&str], row: &[&str]) -> Result<String, MissingValue> {
        let bound = Template::parse(template).unwrap().bind(header).unwrap();
        let mut out = String::new();
        bound.render(|i| row.get(i).copied(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn placeholders_are_filled_from_their_columns_and_defaults() {
        let header = ["phone", "first_name", "order"];
        assert_eq!(
            render(
                "Hi {{first_name}}, order {{ order }} shipped",
                &header,
                &["+1", "Ana", "1234"]
            ),
            Ok("Hi Ana, order 1234 shipped".into())
        );
        assert_eq!(
            render("Hi {{first_name|there}}!", &header, &["+1", "  ", "1"]),
            Ok("Hi there!".into())
        );
        assert_eq!(
            render("Hi {{first_name|there}}!", &header, &["+1"]),
            Ok("Hi there!".into()),
            "a short row has no value"
        );
        assert_eq!(
            render("Hi {{first_name}}!", &header, &["+1", ""]),
            Err(MissingValue {
                column: "first_name".into()
            })
        );
        assert_eq!(
            render("{{order|}}x", &header, &["+1", "A", ""]),
            Ok("x".into()),
            "an empty default is a default"
        );
    }

    #[test]
    fn a_text_without_placeholders_is_one_literal() {
        let t = Template::parse("Hello, { world } }}").unwrap();
        assert!(!t.is_personalised());
        assert!(t.columns().is_empty());
        assert_eq!(
            render("Hello, { world } }}", &[], &[]),
            Ok("Hello, { world } }}".into())
        );
    }

    #[test]
    fn malformed_placeholders_are_named_by_position() {
        assert_eq!(
            Template::parse("Hé {{name"),
            Err(TemplateError::Unclosed { at: 4 })
        );
        assert_eq!(
            Template::parse("{{a}} {{ }}"),
            Err(TemplateError::EmptyName { at: 7 })
        );
        assert_eq!(
            Template::parse("{{|x}}"),
            Err(TemplateError::EmptyName { at: 1 })
        );
        let long = format!("{{{{{}}}}}", "c".repeat(MAX_COLUMN_NAME + 1));
        assert_eq!(
            Template::parse(&long),
            Err(TemplateError::LongName { at: 1 })
        );
    }

    #[test]
    fn binding_names_every_missing_column_once() {
        let t = Template::parse("{{a}} {{b}} {{a}} {{c|x}} {{ phone }}").unwrap();
        assert_eq!(t.columns(), ["a", "b", "c", "phone"]);
        assert_eq!(
            t.bind(&[" phone ", "b"]),
            Err(MissingColumns(vec!["a".into(), "c".into()]))
        );
        assert_eq!(
            MissingColumns(vec!["a".into(), "c".into()]).to_string(),
            "names {{a}}, {{c}} but the file has no such column"
        );
    }
}
