//! The compiler's field resolution: every field name a model mentions becomes a slot at load time,
//! following PMML's scoping (a model's MiningSchema and LocalTransformations, the enclosing
//! models, the TransformationDictionary, the DataDictionary).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::define;
use super::error::Result;
use super::eval::{Program, SlotDef};
use super::expr;
use super::functions::Func;
use super::schema::{read_mining_schema, DataFieldDef, MiningFieldDef, Preparation, Usage};
use super::target::Categories;
use super::value::{parse_literal, DataType, OpType, Val};
use super::xml::{El, MAX_DEPTH};

/// Index of a scope (one per model) in the compiler.
pub type ScopeId = usize;

/// What scoring code needs to know about a resolved field.
#[derive(Clone, Debug)]
pub struct FieldInfo {
    /// Where its value lives.
    pub slot: u32,
    /// Its data type.
    pub data_type: DataType,
    /// Its operational type.
    pub op_type: OpType,
    /// How many nested evaluations computing its value takes (0 for a record input).
    pub depth: u32,
}

/// The deepest evaluation (expressions within derived fields within expressions, …) a field may
/// need: keeps scoring's recursion far from the stack's end whatever the document.
pub const MAX_EVAL_DEPTH: u32 = 256;

/// A record input the top-level model needs, bound to a slot.
#[derive(Debug)]
pub struct Binding {
    /// The field's name.
    pub name: String,
    /// The slot its prepared value goes to.
    pub slot: u32,
    /// How the raw value is checked and treated.
    pub preparation: Preparation,
    /// Whether the record must provide it (active fields; supplementary ones are optional).
    pub required: bool,
}

/// One model's view of the fields.
struct Scope<'a, 'input> {
    parent: Option<ScopeId>,
    mining: HashMap<String, (MiningFieldDef, El<'a, 'input>)>,
    targets: Vec<String>,
    local: HashMap<String, El<'a, 'input>>,
    resolved: HashMap<String, FieldInfo>,
    segment_outputs: HashMap<String, FieldInfo>,
    pass_through: bool,
    /// Whether this is a user-defined function's body, which sees only its parameters.
    function: bool,
}

/// Turns a document's fields into slots and keeps what the program needs.
pub struct Compiler<'a, 'input> {
    /// The program being built.
    pub program: Program,
    /// The DataDictionary.
    pub data_fields: HashMap<String, DataFieldDef>,
    /// The inputs of the top-level model.
    pub bindings: Vec<Binding>,
    global_derived: HashMap<String, El<'a, 'input>>,
    /// The DefineFunctions by name, and the program index of those compiled so far.
    defined: HashMap<String, El<'a, 'input>>,
    compiled_functions: HashMap<String, usize>,
    scopes: Vec<Scope<'a, 'input>>,
    in_progress: Vec<(ScopeId, String)>,
    unsupported_outputs: HashMap<String, String>,
    /// Expressions and derived fields being compiled, nested (bounds the compiler's recursion).
    nesting: u32,
    /// The distinct category lists of the models compiled so far (the trees of a forest share
    /// one).
    categories: Vec<Arc<Categories>>,
    /// The slots of the output fields something reads by name (a later output field, a later
    /// segment).
    read_outputs: HashSet<u32>,
}

impl<'a, 'input> Compiler<'a, 'input> {
    /// A compiler for a document with these data fields and TransformationDictionary.
    pub fn new(
        program: Program,
        data_fields: HashMap<String, DataFieldDef>,
        dictionary: Option<El<'a, 'input>>,
    ) -> Result<Self> {
        let mut global_derived = HashMap::new();
        let mut defined = HashMap::new();
        if let Some(dictionary) = dictionary {
            collect_derived(&dictionary, &mut global_derived)?;
            for function in dictionary.children_named("DefineFunction") {
                let name = function.required("name")?;
                if Func::from_name(name).is_some() {
                    return Err(function.invalid(format!("`{name}` is a built-in function")));
                }
                if defined.insert(name.to_owned(), function).is_some() {
                    return Err(function.invalid(format!("the function `{name}` is defined twice")));
                }
            }
        }
        Ok(Compiler {
            program,
            data_fields,
            bindings: Vec::new(),
            global_derived,
            defined,
            compiled_functions: HashMap::new(),
            scopes: Vec::new(),
            in_progress: Vec::new(),
            unsupported_outputs: HashMap::new(),
            nesting: 0,
            categories: Vec::new(),
            read_outputs: HashSet::new(),
        })
    }

    /// Opens the scope of `model` (its MiningSchema and LocalTransformations) inside `parent`.
    /// The top-level model's active fields become record inputs, in MiningSchema order.
    pub fn open_scope(
        &mut self,
        parent: Option<ScopeId>,
        model: &El<'a, 'input>,
    ) -> Result<ScopeId> {
        let schema = model
            .child("MiningSchema")
            .ok_or_else(|| model.invalid("the model has no MiningSchema"))?;
        let fields = read_mining_schema(&schema, &mut self.program.interner)?;
        let mut local = HashMap::new();
        if let Some(transformations) = model.child("LocalTransformations") {
            collect_derived(&transformations, &mut local)?;
        }
        let pass_through = fields.iter().all(|(_, field, _)| field.is_pass_through());
        let order: Vec<(String, Usage)> = fields
            .iter()
            .map(|(name, field, _)| (name.clone(), field.usage))
            .collect();
        let targets = order
            .iter()
            .filter(|(_, usage)| *usage == Usage::Target)
            .map(|(name, _)| name.clone())
            .collect();
        self.scopes.push(Scope {
            parent,
            mining: fields
                .into_iter()
                .map(|(name, field, element)| (name, (field, element)))
                .collect(),
            targets,
            local,
            resolved: HashMap::new(),
            segment_outputs: HashMap::new(),
            pass_through,
            function: false,
        });
        let scope = self.scopes.len() - 1;
        if parent.is_none() {
            for (name, usage) in order {
                if usage != Usage::Target {
                    self.resolve(scope, &name, &schema)?;
                }
            }
        }
        Ok(scope)
    }

    /// Opens the scope of a user-defined function's body (its parameters are added one by one).
    pub fn open_function_scope(&mut self) -> ScopeId {
        self.scopes.push(Scope {
            parent: None,
            mining: HashMap::new(),
            targets: Vec::new(),
            local: HashMap::new(),
            resolved: HashMap::new(),
            segment_outputs: HashMap::new(),
            pass_through: false,
            function: true,
        });
        self.scopes.len() - 1
    }

    /// Declares a parameter of the function whose body is `scope`.
    pub fn add_parameter(
        &mut self,
        scope: ScopeId,
        name: &str,
        slot: u32,
        data_type: DataType,
        at: &El<'_, '_>,
    ) -> Result<()> {
        let info = FieldInfo {
            slot,
            data_type,
            op_type: OpType::of(at, data_type)?,
            depth: 0,
        };
        if self.scopes[scope]
            .resolved
            .insert(name.to_owned(), info)
            .is_some()
        {
            return Err(at.invalid(format!("the parameter `{name}` is declared twice")));
        }
        Ok(())
    }

    /// The program index of the user-defined function `name`, compiled on its first call.
    pub fn user_function(&mut self, name: &str, at: &El<'_, '_>) -> Result<usize> {
        if let Some(index) = self.compiled_functions.get(name) {
            return Ok(*index);
        }
        let element = *self
            .defined
            .get(name)
            .ok_or_else(|| at.unsupported(format!("the function `{name}`")))?;
        let key = (usize::MAX, name.to_owned());
        if self.in_progress.contains(&key) {
            return Err(element.invalid(format!("the function `{name}` calls itself")));
        }
        self.enter(&element)?;
        self.in_progress.push(key);
        let compiled = define::compile_function(self, &element);
        self.in_progress.pop();
        self.leave();
        self.program.functions.push(compiled?);
        let index = self.program.functions.len() - 1;
        self.compiled_functions.insert(name.to_owned(), index);
        Ok(index)
    }

    /// The target fields model `scope` declares in its MiningSchema, in document order.
    pub fn targets(&self, scope: ScopeId) -> &[String] {
        &self.scopes[scope].targets
    }

    /// The name of the target field `model` declares in its MiningSchema, if any.
    pub fn declared_target(&self, scope: ScopeId) -> Option<String> {
        self.scopes[scope].targets.first().cloned()
    }

    /// Makes a segment's output field visible to the later segments of the MiningModel `scope`.
    pub fn add_segment_output(&mut self, scope: ScopeId, name: &str, info: FieldInfo) {
        self.scopes[scope]
            .segment_outputs
            .insert(name.to_owned(), info);
    }

    /// Whether something reads the output field of this slot (so far).
    pub fn reads_output(&self, slot: u32) -> bool {
        self.read_outputs.contains(&slot)
    }

    /// Records an output field whose feature is not supported: using it fails at load time.
    pub fn unsupported_output(&mut self, name: &str, reason: String) {
        self.unsupported_outputs.insert(name.to_owned(), reason);
    }

    /// A compiled model's final categories, shared with an earlier model's equal ones.
    pub fn share_categories(&mut self, categories: Categories) -> Arc<Categories> {
        if let Some(known) = self.categories.iter().find(|known| known.same(&categories)) {
            return known.clone();
        }
        let shared = Arc::new(categories.shrunk());
        self.categories.push(shared.clone());
        shared
    }

    /// Enters one more level of nested compilation at `at`, failing past [`MAX_EVAL_DEPTH`].
    pub fn enter(&mut self, at: &El<'_, '_>) -> Result<()> {
        if self.nesting >= MAX_EVAL_DEPTH {
            return Err(at.invalid(format!(
                "expressions and derived fields nest more than the limit of {MAX_EVAL_DEPTH}"
            )));
        }
        self.nesting += 1;
        Ok(())
    }

    /// Leaves a level entered with [`Compiler::enter`].
    pub fn leave(&mut self) {
        self.nesting -= 1;
    }

    /// A new slot for field `name`.
    pub fn new_slot(&mut self, name: &str, def: SlotDef) -> u32 {
        self.program.defs.push(def);
        self.program.names.push(Arc::from(name));
        (self.program.defs.len() - 1) as u32
    }

    /// Reads `text` as a value of `data_type`, failing with an error about `at`.
    pub fn literal(&mut self, text: &str, data_type: DataType, at: &El<'_, '_>) -> Result<Val> {
        parse_literal(text, data_type, &mut self.program.interner).ok_or_else(|| {
            at.invalid(format!(
                "`{text}` is not a valid {} value",
                type_name(data_type)
            ))
        })
    }

    /// The slot and types of field `name` as model `scope` sees it; `at` is the referencing element.
    pub fn resolve(&mut self, scope: ScopeId, name: &str, at: &El<'_, '_>) -> Result<FieldInfo> {
        if let Some(info) = self.scopes[scope].resolved.get(name) {
            return Ok(info.clone());
        }
        if let Some(info) = self.scopes[scope].segment_outputs.get(name) {
            self.read_outputs.insert(info.slot);
            return Ok(info.clone());
        }
        let info = self.resolve_uncached(scope, name, at)?;
        self.scopes[scope]
            .resolved
            .insert(name.to_owned(), info.clone());
        Ok(info)
    }

    fn resolve_uncached(
        &mut self,
        scope: ScopeId,
        name: &str,
        at: &El<'_, '_>,
    ) -> Result<FieldInfo> {
        if self.scopes[scope].function {
            return Err(at.invalid(format!(
                "the field `{name}` is not a parameter of the function"
            )));
        }
        let mining = self.scopes[scope].mining.get(name).cloned();
        if let Some((mining, element)) = mining.filter(|(field, _)| field.usage != Usage::Target) {
            return self.resolve_mining_field(scope, name, &mining, &element);
        }
        if let Some(element) = self.scopes[scope].local.get(name).copied() {
            return self.compile_derived(scope, name, &element);
        }
        if let Some(element) = self.global_derived.get(name).copied() {
            let home = self.global_home(scope);
            if home != scope {
                return self.resolve(home, name, at);
            }
            return self.compile_derived(scope, name, &element);
        }
        match self.scopes[scope].parent {
            Some(parent) => self.resolve(parent, name, at),
            None if self.data_fields.contains_key(name) => Err(at.invalid(format!(
                "the field `{name}` is used but not declared in the model's MiningSchema"
            ))),
            None => match self.unsupported_outputs.get(name) {
                Some(reason) => {
                    Err(at.unsupported(format!("the output field `{name}` ({reason})")))
                }
                None => Err(at.invalid(format!("the field `{name}` is not defined"))),
            },
        }
    }

    fn resolve_mining_field(
        &mut self,
        scope: ScopeId,
        name: &str,
        mining: &MiningFieldDef,
        at: &El<'_, '_>,
    ) -> Result<FieldInfo> {
        let Some(parent) = self.scopes[scope].parent else {
            return self.bind_input(name, mining, at);
        };
        let outer = self.resolve(parent, name, at)?;
        if mining.is_pass_through() {
            return Ok(outer);
        }
        let field = self
            .data_fields
            .get(name)
            .cloned()
            .unwrap_or_else(|| DataFieldDef {
                data_type: outer.data_type,
                op_type: outer.op_type,
                valid: Vec::new(),
                valid_texts: Vec::new(),
                invalid: Vec::new(),
                missing: Vec::new(),
                intervals: Vec::new(),
            });
        let preparation = Preparation::new(
            name,
            &field,
            outer.data_type,
            mining,
            &mut self.program.interner,
        )
        .map_err(|message| at.invalid(message))?;
        let def = SlotDef::Prepared {
            source: outer.slot,
            preparation: Box::new(preparation),
        };
        let slot = self.new_slot(name, def);
        Ok(FieldInfo {
            slot,
            data_type: outer.data_type,
            op_type: mining.op_type().unwrap_or(outer.op_type),
            depth: outer.depth + 1,
        })
    }

    fn bind_input(
        &mut self,
        name: &str,
        mining: &MiningFieldDef,
        at: &El<'_, '_>,
    ) -> Result<FieldInfo> {
        let field = self
            .data_fields
            .get(name)
            .cloned()
            .ok_or_else(|| at.invalid(format!("the MiningField `{name}` has no DataField")))?;
        let preparation = Preparation::new(
            name,
            &field,
            field.data_type,
            mining,
            &mut self.program.interner,
        )
        .map_err(|message| at.invalid(message))?;
        let slot = self.new_slot(name, SlotDef::Input);
        self.bindings.push(Binding {
            name: name.to_owned(),
            slot,
            preparation,
            required: mining.usage == Usage::Active,
        });
        Ok(FieldInfo {
            slot,
            data_type: field.data_type,
            op_type: mining.op_type().unwrap_or(field.op_type),
            depth: 0,
        })
    }

    /// The scope where a global derived field is computed for `scope`: the outermost model whose
    /// nested models all pass their fields through unchanged.
    fn global_home(&self, scope: ScopeId) -> ScopeId {
        let mut home = scope;
        while self.scopes[home].pass_through {
            match self.scopes[home].parent {
                Some(parent) => home = parent,
                None => break,
            }
        }
        home
    }

    fn compile_derived(
        &mut self,
        scope: ScopeId,
        name: &str,
        element: &El<'a, 'input>,
    ) -> Result<FieldInfo> {
        let key = (scope, name.to_owned());
        if self.in_progress.contains(&key) {
            return Err(element.invalid(format!("the derived field `{name}` refers to itself")));
        }
        if self.in_progress.len() >= MAX_DEPTH {
            return Err(element.invalid(format!(
                "derived fields are chained more than {MAX_DEPTH} deep"
            )));
        }
        self.enter(element)?;
        self.in_progress.push(key);
        let compiled = self.compile_derived_body(scope, name, element);
        self.in_progress.pop();
        self.leave();
        compiled
    }

    fn compile_derived_body(
        &mut self,
        scope: ScopeId,
        name: &str,
        element: &El<'_, '_>,
    ) -> Result<FieldInfo> {
        let typed = expr::compile_container(self, scope, element)?;
        let data_type = match element.attr("dataType") {
            Some(keyword) => DataType::from_keyword(keyword, element)?,
            None => typed.data_type,
        };
        let op_type = OpType::of(element, data_type)?;
        let depth = typed.depth + 1;
        if depth > MAX_EVAL_DEPTH {
            return Err(element.invalid(format!(
                "computing `{name}` nests {depth} evaluations, more than the limit of {MAX_EVAL_DEPTH}"
            )));
        }
        let slot = self.new_slot(
            name,
            SlotDef::Derived {
                expr: typed.expr,
                data_type,
            },
        );
        Ok(FieldInfo {
            slot,
            data_type,
            op_type,
            depth,
        })
    }

    /// The element of the derived field `name` as model `scope` sees it (local, enclosing or global).
    pub fn derived_element(&self, scope: ScopeId, name: &str) -> Option<El<'a, 'input>> {
        let mut current = Some(scope);
        while let Some(index) = current {
            if let Some(element) = self.scopes[index].local.get(name) {
                return Some(*element);
            }
            current = self.scopes[index].parent;
        }
        self.global_derived.get(name).copied()
    }

    /// Compiles an anonymous DerivedField (e.g. a NeuralInput's) into a slot.
    pub fn anonymous_derived(
        &mut self,
        scope: ScopeId,
        element: &El<'_, '_>,
        label: &str,
    ) -> Result<FieldInfo> {
        self.compile_derived_body(scope, label, element)
    }
}

/// Collects the named DerivedFields of a TransformationDictionary or LocalTransformations.
fn collect_derived<'a, 'input>(
    container: &El<'a, 'input>,
    fields: &mut HashMap<String, El<'a, 'input>>,
) -> Result<()> {
    for element in container.children_named("DerivedField") {
        let name = element.required("name")?;
        if fields.insert(name.to_owned(), element).is_some() {
            return Err(element.invalid(format!("the derived field `{name}` is defined twice")));
        }
    }
    Ok(())
}

/// The PMML name of a data type.
pub fn type_name(data_type: DataType) -> &'static str {
    match data_type {
        DataType::String => "string",
        DataType::Integer => "integer",
        DataType::Float => "float",
        DataType::Double => "double",
        DataType::Boolean => "boolean",
        DataType::Date => "date",
        DataType::Time => "time",
        DataType::DateTime => "dateTime",
        DataType::DateDaysSince(_) => "dateDaysSince[YEAR]",
        DataType::TimeSeconds => "timeSeconds",
        DataType::DateTimeSecondsSince(_) => "dateTimeSecondsSince[YEAR]",
    }
}
