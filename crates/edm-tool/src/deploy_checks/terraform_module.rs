//! A Terraform module as the checks see it: the blocks of every `.tf` file
//! in one folder, parsed with hcl-rs (no providers, no evaluation), by
//! kind; and what can be read off an expression without evaluating it:
//! its HCL text, its string literals, its static value.

use std::collections::BTreeMap;
use std::path::Path;

use hcl::expr::{Operation, TemplateExpr, TraversalOperator};
use hcl::template::{Directive, Element};
use hcl::{Block, Body, Expression, ObjectKey, Template};

/// The blocks of one module, by kind.
#[derive(Debug, Default)]
pub struct Module {
    /// `variable "NAME" { … }`.
    pub variables: BTreeMap<String, Body>,
    /// Each attribute of every `locals { … }`.
    pub locals: BTreeMap<String, Expression>,
    /// `resource "TYPE" "NAME" { … }`, by `(TYPE, NAME)`.
    pub resources: BTreeMap<(String, String), Body>,
    /// `output "NAME" { … }`.
    pub outputs: BTreeMap<String, Body>,
    /// Each `terraform { … }`.
    pub terraform: Vec<Body>,
    /// Each `provider "NAME" { … }`, with its name.
    pub providers: Vec<(String, Body)>,
}

/// Where a value is declared (`variable x`, `local.x`, `TYPE.NAME`,
/// `output x`) and its attributes, nested blocks' included, each with its
/// name.
pub struct Place<'a> {
    pub name: String,
    pub is_output: bool,
    pub attributes: Vec<(&'a str, &'a Expression)>,
}

impl Module {
    /// Parses every `*.tf` file of `dir`; the error names each file that
    /// does not parse, with the parser's message.
    pub fn load(dir: &Path) -> Result<Module, Vec<String>> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| vec![format!("{} cannot be read: {e}", dir.display())])?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "tf"))
            .collect();
        files.sort();
        let mut module = Module::default();
        let mut errors = Vec::new();
        for path in files {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| hcl::parse(&text).map_err(|e| summary(&e.to_string())));
            match parsed {
                Ok(body) => module.add(body),
                Err(e) => errors.push(format!("{name} does not parse: {e}")),
            }
        }
        if errors.is_empty() {
            Ok(module)
        } else {
            Err(errors)
        }
    }

    fn add(&mut self, body: Body) {
        for block in body.into_blocks() {
            let labels: Vec<String> = block.labels.iter().map(|l| l.as_str().to_owned()).collect();
            match (block.identifier.as_str(), &labels[..]) {
                ("variable", [name]) => {
                    self.variables.insert(name.clone(), block.body);
                }
                ("locals", []) => {
                    for attribute in block.body.into_attributes() {
                        self.locals
                            .insert(attribute.key.as_str().to_owned(), attribute.expr);
                    }
                }
                ("resource", [kind, name]) => {
                    self.resources
                        .insert((kind.clone(), name.clone()), block.body);
                }
                ("output", [name]) => {
                    self.outputs.insert(name.clone(), block.body);
                }
                ("terraform", []) => self.terraform.push(block.body),
                ("provider", [name]) => self.providers.push((name.clone(), block.body)),
                _ => {}
            }
        }
    }

    /// The resources of type `kind`: name => body.
    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Body)> {
        self.resources
            .iter()
            .filter(move |((k, _), _)| k == kind)
            .map(|((_, name), body)| (name.as_str(), body))
    }

    /// Every variable, local, resource and output.
    pub fn places(&self) -> Vec<Place<'_>> {
        let variables = self.variables.iter().map(|(n, b)| Place {
            name: format!("variable {n}"),
            is_output: false,
            attributes: attributes(b),
        });
        let locals = self.locals.iter().map(|(n, e)| Place {
            name: format!("local.{n}"),
            is_output: false,
            attributes: vec![(n.as_str(), e)],
        });
        let resources = self.resources.iter().map(|((k, n), b)| Place {
            name: format!("{k}.{n}"),
            is_output: false,
            attributes: attributes(b),
        });
        let outputs = self.outputs.iter().map(|(n, b)| Place {
            name: format!("output {n}"),
            is_output: true,
            attributes: attributes(b),
        });
        variables
            .chain(locals)
            .chain(resources)
            .chain(outputs)
            .collect()
    }

    /// The HCL text of every expression that may refer to something (string
    /// literals left out), providers and `terraform` blocks included.
    pub fn expression_texts(&self) -> Vec<String> {
        let blocks = self
            .terraform
            .iter()
            .chain(self.providers.iter().map(|(_, b)| b))
            .flat_map(attributes);
        self.places()
            .into_iter()
            .flat_map(|place| place.attributes)
            .chain(blocks)
            .map(|(_, e)| e)
            .filter(|e| !matches!(e, Expression::String(_)))
            .map(Expression::to_string)
            .collect()
    }

    /// A string's static value: a literal, a `var.X` default or a
    /// `local.X` literal; `None` when it takes evaluating.
    pub fn value(&self, expr: &Expression) -> Option<String> {
        match expr {
            Expression::String(s) => Some(s.clone()),
            Expression::Traversal(traversal) => {
                let Expression::Variable(root) = &traversal.expr else {
                    return None;
                };
                let [TraversalOperator::GetAttr(name)] = &traversal.operators[..] else {
                    return None;
                };
                match root.as_str() {
                    "var" => self
                        .variables
                        .get(name.as_str())
                        .and_then(|b| attribute(b, "default"))
                        .and_then(|e| self.value(e)),
                    "local" => self.locals.get(name.as_str()).and_then(|e| self.value(e)),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// The attribute `name` of `body`.
pub fn attribute<'a>(body: &'a Body, name: &str) -> Option<&'a Expression> {
    body.attributes()
        .find(|a| a.key.as_str() == name)
        .map(|a| &a.expr)
}

/// The HCL text of the attribute `name` of `body`; empty when it has none.
pub fn attribute_text(body: &Body, name: &str) -> String {
    attribute(body, name)
        .map(Expression::to_string)
        .unwrap_or_default()
}

/// The blocks of `body` called `identifier`.
pub fn blocks<'a>(body: &'a Body, identifier: &'a str) -> impl Iterator<Item = &'a Block> {
    body.blocks()
        .filter(move |b| b.identifier.as_str() == identifier)
}

/// The field `name` of an object expression.
pub fn field<'a>(object: &'a Expression, name: &str) -> Option<&'a Expression> {
    let Expression::Object(object) = object else {
        return None;
    };
    object.iter().find_map(|(key, value)| {
        let key = match key {
            ObjectKey::Identifier(key) => key.as_str(),
            ObjectKey::Expression(Expression::String(key)) => key.as_str(),
            _ => return None,
        };
        (key == name).then_some(value)
    })
}

/// Every attribute of `body` and its nested blocks, with its name.
pub fn attributes(body: &Body) -> Vec<(&str, &Expression)> {
    body.attributes()
        .map(|a| (a.key.as_str(), &a.expr))
        .chain(body.blocks().flat_map(|b| attributes(&b.body)))
        .collect()
}

/// `expr` itself, or the items of an array or object, recursively: the
/// values a serializer would write one by one.
pub fn leaves(expr: &Expression) -> Vec<&Expression> {
    match expr {
        Expression::Array(items) => items.iter().flat_map(leaves).collect(),
        Expression::Object(object) => object.values().flat_map(leaves).collect(),
        other => vec![other],
    }
}

/// The string literals in `expr`, at any depth: quoted strings, and the
/// literal text of templates.
pub fn string_literals(expr: &Expression) -> Vec<String> {
    let mut found = Vec::new();
    collect_literals(expr, &mut found);
    found
}

fn collect_literals(expr: &Expression, found: &mut Vec<String>) {
    let mut visit = |e: &Expression| collect_literals(e, found);
    match expr {
        Expression::String(s) => found.push(s.clone()),
        Expression::Array(items) => items.iter().for_each(visit),
        Expression::Object(object) => {
            for (key, value) in object {
                if let ObjectKey::Expression(key) = key {
                    visit(key);
                }
                visit(value);
            }
        }
        Expression::TemplateExpr(template) => {
            if let Ok(template) = Template::from_expr(template) {
                template_literals(&template, found);
            } else if let TemplateExpr::QuotedString(s) = template.as_ref() {
                found.push(s.clone());
            }
        }
        Expression::Traversal(traversal) => {
            visit(&traversal.expr);
            for operator in &traversal.operators {
                if let TraversalOperator::Index(index) = operator {
                    visit(index);
                }
            }
        }
        Expression::FuncCall(call) => call.args.iter().for_each(visit),
        Expression::Parenthesis(inner) => visit(inner),
        Expression::Conditional(c) => {
            visit(&c.cond_expr);
            visit(&c.true_expr);
            visit(&c.false_expr);
        }
        Expression::Operation(operation) => match operation.as_ref() {
            Operation::Unary(op) => visit(&op.expr),
            Operation::Binary(op) => {
                visit(&op.lhs_expr);
                visit(&op.rhs_expr);
            }
        },
        Expression::ForExpr(f) => {
            visit(&f.collection_expr);
            f.key_expr.iter().for_each(&mut visit);
            visit(&f.value_expr);
            f.cond_expr.iter().for_each(&mut visit);
        }
        _ => {}
    }
}

fn template_literals(template: &Template, found: &mut Vec<String>) {
    for element in template.elements() {
        match element {
            Element::Literal(text) => found.push(text.clone()),
            Element::Interpolation(interpolation) => collect_literals(&interpolation.expr, found),
            Element::Directive(directive) => match directive.as_ref() {
                Directive::If(d) => {
                    collect_literals(&d.cond_expr, found);
                    template_literals(&d.true_template, found);
                    if let Some(other) = &d.false_template {
                        template_literals(other, found);
                    }
                }
                Directive::For(d) => {
                    collect_literals(&d.collection_expr, found);
                    template_literals(&d.template, found);
                }
            },
        }
    }
}

/// hcl-rs's multi-line parse error in one line: where, and what.
fn summary(error: &str) -> String {
    error
        .lines()
        .map(str::trim)
        .filter_map(|line| {
            line.strip_prefix("-->")
                .or_else(|| line.strip_prefix('='))
                .map(str::trim)
        })
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expression(text: &str) -> Expression {
        let body = hcl::parse(&format!("x = {text}\n")).expect("valid HCL");
        attribute(&body, "x").expect("x").clone()
    }

    #[test]
    fn literals_are_found_at_any_depth() {
        let expr = expression(r#"merge({ a = "one" }, x["two"], "${join(" ", ["three"])}-four")"#);
        assert_eq!(
            string_literals(&expr),
            ["one", "two", " ", "three", "-four"]
        );
    }

    #[test]
    fn static_values_follow_variables_and_locals() {
        let mut module = Module::default();
        module.add(
            hcl::parse("variable \"v\" {\n  default = \"d\"\n}\nlocals {\n  l = var.v\n}\n")
                .expect("valid HCL"),
        );
        assert_eq!(module.value(&expression("local.l")).as_deref(), Some("d"));
        assert_eq!(module.value(&expression("var.nope")), None);
        assert_eq!(module.value(&expression("upper(var.v)")), None);
    }

    #[test]
    fn a_parse_error_is_one_line() {
        let error = hcl::parse("locals {{\n}\n")
            .expect_err("invalid HCL")
            .to_string();
        let line = summary(&error);
        assert!(line.starts_with("HCL parse error in line 1"), "{line}");
        assert!(!line.contains('\n'));
    }
}
