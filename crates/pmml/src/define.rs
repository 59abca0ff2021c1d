//! User-defined functions (`DefineFunction`): each is compiled once, on its first call, into an
//! expression over one slot per parameter; a call evaluates its arguments, writes them to those
//! slots and evaluates the body.

use super::compile::{Compiler, ScopeId};
use super::error::{Error, Result};
use super::eval::{Env, SlotDef};
use super::expr::{self, Expr, Typed};
use super::value::{DataType, OpType, Val};
use super::xml::El;

/// The most parameters a user-defined function may have.
pub const MAX_PARAMETERS: usize = 16;

/// A compiled DefineFunction.
#[derive(Clone, Debug)]
pub struct UserFunction {
    /// Each parameter's slot and declared data type.
    parameters: Vec<(u32, Option<DataType>)>,
    /// The body.
    body: Expr,
    /// The declared type of the result.
    data_type: DataType,
    /// How many nested evaluations the body takes.
    depth: u32,
}

/// A call of a user-defined function.
#[derive(Clone, Debug)]
pub struct Call {
    /// The function's index in the program.
    function: usize,
    /// The arguments.
    args: Vec<Expr>,
    /// The result when an argument is missing.
    map_missing: Option<Val>,
    /// The result when the function gives a missing value.
    default: Option<Val>,
}

/// Compiles the function `element` (a DefineFunction), with its parameters as the only fields
/// its body sees.
pub fn compile_function(c: &mut Compiler<'_, '_>, element: &El<'_, '_>) -> Result<UserFunction> {
    let data_type = DataType::from_keyword(element.required("dataType")?, element)?;
    OpType::of(element, data_type)?;
    let scope = c.open_function_scope();
    let mut parameters = Vec::new();
    for parameter in element.children_named("ParameterField") {
        if parameters.len() == MAX_PARAMETERS {
            return Err(element.unsupported(format!(
                "a function with more than {MAX_PARAMETERS} parameters"
            )));
        }
        let name = parameter.required("name")?;
        let declared = parameter
            .attr("dataType")
            .map(|keyword| DataType::from_keyword(keyword, &parameter))
            .transpose()?;
        let slot = c.new_slot(name, SlotDef::Input);
        let seen_as = declared.unwrap_or(DataType::Double);
        c.add_parameter(scope, name, slot, seen_as, &parameter)?;
        parameters.push((slot, declared));
    }
    let typed = expr::compile_container(c, scope, element)?;
    Ok(UserFunction {
        parameters,
        body: typed.expr,
        data_type,
        depth: typed.depth,
    })
}

/// Compiles a call of the user-defined function `name` (an Apply).
pub fn compile_call(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
    name: &str,
) -> Result<Typed> {
    let function = c.user_function(name, element)?;
    let (data_type, arity) = {
        let compiled = &c.program.functions[function];
        (compiled.data_type, compiled.parameters.len())
    };
    let mut args = Vec::new();
    let mut depth = 1;
    for child in element
        .children()
        .filter(|child| expr::is_expression(child.name()))
    {
        let typed = expr::compile(c, scope, &child)?;
        depth = depth.max(typed.depth + 1);
        args.push(typed.expr);
    }
    if args.len() != arity {
        return Err(element.invalid(format!(
            "the function `{name}` takes {arity} arguments, not {}",
            args.len()
        )));
    }
    let literal = |c: &mut Compiler<'_, '_>, attribute: &str| {
        element
            .attr(attribute)
            .map(|text| c.literal(text, data_type, element))
            .transpose()
    };
    let call = Call {
        function,
        args,
        map_missing: literal(c, "mapMissingTo")?,
        default: literal(c, "defaultValue")?,
    };
    Ok(Typed {
        expr: Expr::Call(Box::new(call)),
        data_type,
        depth: depth + c.program.functions[function].depth,
    })
}

impl Call {
    /// Evaluates the call for the current record.
    pub fn eval(&self, env: &mut Env<'_>) -> Result<Val> {
        let program = env.program;
        let function = &program.functions[self.function];
        let mut values = [Val::Missing; MAX_PARAMETERS];
        for (value, arg) in values.iter_mut().zip(&self.args) {
            *value = arg.eval(env)?;
            if let (Val::Missing, Some(replacement)) = (*value, self.map_missing) {
                return Ok(replacement);
            }
        }
        for (value, (slot, data_type)) in values.iter().zip(&function.parameters) {
            let value = match data_type {
                Some(data_type) => env.cast(*value, *data_type)?,
                None => *value,
            };
            env.set(*slot, value);
        }
        match function.body.eval(env)? {
            Val::Missing => Ok(self.default.unwrap_or(Val::Missing)),
            value => env
                .cast(value, function.data_type)
                .map_err(|error| Error::scoring(format!("a user-defined function: {error}"))),
        }
    }
}
