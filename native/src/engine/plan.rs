//! The rule plan: a validated rule pack as the core runs it.
//!
//! Python loads and validates packs (`stream/rules/ruleset.py`, every error message is made
//! there) and hands the result over as JSON (`stream/rules/plan_export.py`); this only maps it
//! onto types. Metrics are numbered: a family's reads, a condition's names and the deadline index
//! all refer to metric ids, so nothing on the hot path compares names.

use super::expr::{Arith, Compare, Expr};
use super::metrics::edges;
use super::state::SOURCES;
use crate::changes::quoted;
use crate::jsonfmt::Scalar;
use serde_json::Value;

/// A day-resolution window metric (`stream.metrics.Window`).
#[derive(Debug, Clone)]
pub struct Window {
    pub metric: usize,
    pub orders: bool,
    pub field: usize,
    pub days: i64,
    pub previous: bool,
    pub cents: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Last(Option<usize>),
    First(Option<usize>),
    Reactivated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    Orders,
    Revenue,
    Events,
}

#[derive(Debug, Clone)]
pub struct Rfm {
    pub recency_days: Vec<f64>,
    pub frequency_metric: usize,
    pub frequency: Vec<f64>,
    pub monetary_metric: usize,
    pub monetary: Vec<f64>,
    /// metric ids of rfm_r, rfm_f, rfm_m, rfm_fm
    pub scores: [usize; 4],
    pub days_since_last_order: usize,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub value: Scalar,
    /// The rule as a change names it, already a JSON string literal (`quoted`).
    pub rule: Vec<u8>,
    pub condition: Expr,
    /// Hysteresis: also holds while the family's current value is `value` (rule, condition).
    pub stay: Option<(Vec<u8>, Expr)>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Cases(Vec<Case>),
    Top {
        counter: usize,
        min_count: i64,
        rule: Vec<u8>,
    },
    /// Rows R = 5..1, columns FM = 1..5, each cell with its rule (quoted).
    Grid(Vec<Vec<(Scalar, Vec<u8>)>>),
    /// A property metric's value itself, else the default.
    Value {
        metric: usize,
        rule: Vec<u8>,
    },
}

/// How a property metric adds up what its events contribute (`stream.metrics.AGGREGATES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum,
    Distinct,
    Top,
}

/// `[metrics.<name>]` of the pack (`stream.metrics.PropertyMetric`).
#[derive(Debug, Clone)]
pub struct PropertyMetric {
    pub metric: usize,
    pub event_type: usize,
    pub aggregate: Aggregate,
    /// Index into `Plan::properties` of the property read (None for a count).
    pub property: Option<usize>,
    /// The window in days; None: the whole history.
    pub days: Option<i64>,
    /// Which events count: a condition over `Plan::properties` (ids are property indices).
    pub filter: Option<Expr>,
    /// Read by a rule and windowed: a day leaving its window is a deadline.
    pub deadlines: bool,
}

/// What a trait holds (`[traits.<name>] type`), text from a closed list of values.
#[derive(Debug, Clone)]
pub enum TraitKind {
    Text(Vec<String>),
    Bool,
    Number,
    Date,
}

/// `[traits.<name>]` of the pack: a customer attribute profile events set.
#[derive(Debug, Clone)]
pub struct Trait {
    pub name: String,
    pub kind: TraitKind,
}

/// The type of a declared custom event's field (`stream.metrics.FIELD_TYPES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Number,
    Bool,
}

/// `[events.<name>]` of the pack: (field, type, required).
#[derive(Debug, Clone)]
pub struct CustomEvent {
    pub name: String,
    pub fields: Vec<(String, FieldType, bool)>,
}

#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    /// `name` as a JSON string literal.
    pub name_json: Vec<u8>,
    pub default: Scalar,
    /// Metric ids reported with a change (and whose change at a deadline re-decides the family).
    pub reads: Vec<usize>,
    /// `reads` sorted by metric name, each once: the order a change's metrics are written in.
    pub sorted_reads: Vec<usize>,
    pub kind: Kind,
    /// A value is kept at least this long before the family may change again (0: no minimum).
    pub min_dwell_ms: i64,
    /// Families whose tag this one reads (`tag.<name>`): all earlier in the plan's order.
    pub depends_on: Vec<usize>,
    /// The metric id of `tag.<this family>` when some family reads it.
    pub tag_metric: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub lateness_ms: i64,
    pub dedup_ids: usize,
    pub reactivation_gap_days: i64,
    pub order_retention_days: i64,
    pub activity_retention_days: i64,
    pub hour_bands: Vec<(String, i64, i64)>,
    pub metrics: Vec<String>,
    /// Each metric's name as a JSON object key with its colon (`"orders_90d":`).
    pub metric_keys: Vec<Vec<u8>>,
    pub windows: Vec<Window>,
    pub deadline_windows: Vec<Window>,
    pub recency: Vec<(usize, Anchor)>,
    pub lifetime: Vec<(usize, Lifetime)>,
    pub rfm: Option<Rfm>,
    pub recency_steps: Vec<(usize, Anchor, Vec<i64>)>,
    pub families: Vec<Family>,
    /// Per event type, the families an event of that type can change.
    pub by_trigger: [Vec<usize>; SOURCES],
    /// Metric ids RFM scores are computed from: a change of any re-decides the RFM readers.
    pub rfm_inputs: Vec<usize>,
    /// `windows` split by series (orders, activity), and each series' deadline edges.
    pub series_windows: [Vec<Window>; 2],
    pub edges: [Vec<(i64, Vec<usize>)>; 2],
    /// (metric id of `tag.<family>`, family index): filled from the customer's current tags.
    pub tag_metrics: Vec<(usize, usize)>,
    /// Indices of the families with a minimum dwell time.
    pub dwelling: Vec<usize>,
    /// The event properties property metrics read, by name.
    pub properties: Vec<String>,
    pub property_metrics: Vec<PropertyMetric>,
    pub traits: Vec<Trait>,
    /// (metric id of `trait.<name>`, the trait's name).
    pub trait_metrics: Vec<(usize, String)>,
    /// (metric id of `age_years`, the date trait it counts from), when a rule reads it.
    pub age: Option<(usize, String)>,
    pub custom_events: Vec<CustomEvent>,
}

type Parsed<T> = Result<T, String>;

fn field<'a>(value: &'a Value, key: &str) -> Parsed<&'a Value> {
    value.get(key).ok_or_else(|| format!("rule plan: missing {key:?}"))
}

fn int(value: &Value) -> Parsed<i64> {
    value
        .as_i64()
        .ok_or_else(|| format!("rule plan: {value} is not an integer"))
}

fn float(value: &Value) -> Parsed<f64> {
    value
        .as_f64()
        .or_else(|| non_finite(value))
        .ok_or_else(|| format!("rule plan: {value} is not a number"))
}

/// NaN or an infinity, which JSON cannot write: `{"float": "nan" | "inf" | "-inf"}`
/// (`stream/rules/plan_export.py`).
fn non_finite(value: &Value) -> Option<f64> {
    match value.get("float")?.as_str()? {
        "nan" => Some(f64::NAN),
        "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

fn text(value: &Value) -> Parsed<String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("rule plan: {value} is not a string"))
}

fn list(value: &Value) -> Parsed<&Vec<Value>> {
    value
        .as_array()
        .ok_or_else(|| format!("rule plan: {value} is not a list"))
}

/// Each item of the list at `key`, mapped by `item`.
fn each<T>(doc: &Value, key: &str, item: impl Fn(&Value) -> Parsed<T>) -> Parsed<Vec<T>> {
    list(field(doc, key)?)?.iter().map(item).collect()
}

fn ids(value: &Value) -> Parsed<Vec<usize>> {
    list(value)?.iter().map(|id| int(id).map(|id| id as usize)).collect()
}

fn floats(value: &Value) -> Parsed<Vec<f64>> {
    list(value)?.iter().map(float).collect()
}

pub fn scalar(value: &Value) -> Parsed<Scalar> {
    Ok(match value {
        Value::Null => Scalar::Null,
        Value::Bool(flag) => Scalar::Bool(*flag),
        Value::String(text) => Scalar::Str(text.clone()),
        Value::Object(_) => match non_finite(value) {
            Some(number) => Scalar::Float(number),
            None => return Err(format!("rule plan: {value} is not a scalar")),
        },
        Value::Number(number) => {
            if let Some(whole) = number.as_i64() {
                Scalar::Int(whole)
            } else if let Some(whole) = number.as_u64() {
                Scalar::UInt(whole)
            } else {
                Scalar::Float(number.as_f64().unwrap_or(f64::NAN))
            }
        }
        other => return Err(format!("rule plan: {other} is not a scalar")),
    })
}

fn anchor(value: &Value) -> Parsed<Anchor> {
    let parts = list(value)?;
    let kind = parts.get(1).and_then(Value::as_u64).map(|kind| kind as usize);
    match parts.first().and_then(Value::as_str) {
        Some("last") => Ok(Anchor::Last(kind)),
        Some("first") => Ok(Anchor::First(kind)),
        Some("reactivated") => Ok(Anchor::Reactivated),
        _ => Err(format!("rule plan: bad anchor {value}")),
    }
}

fn window(value: &Value) -> Parsed<Window> {
    let parts = list(value)?;
    if parts.len() != 6 {
        return Err(format!("rule plan: bad window {value}"));
    }
    Ok(Window {
        metric: int(&parts[0])? as usize,
        orders: parts[1].as_str() == Some("order"),
        field: int(&parts[2])? as usize,
        days: int(&parts[3])?,
        previous: parts[4].as_bool().unwrap_or(false),
        cents: parts[5].as_bool().unwrap_or(false),
    })
}

fn expression(value: &Value) -> Parsed<Expr> {
    let parts = list(value)?;
    let op = parts
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| format!("rule plan: bad expression {value}"))?;
    let arg = |index: usize| -> Parsed<Box<Expr>> {
        parts
            .get(index)
            .ok_or_else(|| format!("rule plan: {op} needs an operand"))
            .and_then(expression)
            .map(Box::new)
    };
    let many = || -> Parsed<Vec<Expr>> {
        list(parts.get(1).unwrap_or(&Value::Null))?
            .iter()
            .map(expression)
            .collect()
    };
    let arith = |kind| Ok(Expr::Arith(kind, arg(1)?, arg(2)?));
    let compare = |kind| Ok(Expr::Compare(kind, arg(1)?, arg(2)?));
    match op {
        "const" => Ok(Expr::Const(scalar(parts.get(1).unwrap_or(&Value::Null))?)),
        "metric" => Ok(Expr::Metric(int(parts.get(1).unwrap_or(&Value::Null))? as usize)),
        "and" => Ok(Expr::And(many()?)),
        "or" => Ok(Expr::Or(many()?)),
        "not" => Ok(Expr::Not(arg(1)?)),
        "neg" => Ok(Expr::Neg(arg(1)?)),
        "abs" => Ok(Expr::Abs(arg(1)?)),
        "min" => Ok(Expr::Min(many()?)),
        "max" => Ok(Expr::Max(many()?)),
        "add" => arith(Arith::Add),
        "sub" => arith(Arith::Sub),
        "mul" => arith(Arith::Mul),
        "div" => arith(Arith::Div),
        "lt" => compare(Compare::Lt),
        "le" => compare(Compare::Le),
        "gt" => compare(Compare::Gt),
        "ge" => compare(Compare::Ge),
        "eq" => compare(Compare::Eq),
        "ne" => compare(Compare::Ne),
        "startswith" => Ok(Expr::StartsWith(arg(1)?, arg(2)?)),
        "contains" => Ok(Expr::Contains(arg(1)?, arg(2)?)),
        other => Err(format!("rule plan: unknown operator {other:?}")),
    }
}

fn property_metric(value: &Value) -> Parsed<PropertyMetric> {
    let optional = |key: &str| -> Parsed<Option<i64>> {
        match field(value, key)? {
            Value::Null => Ok(None),
            other => int(other).map(Some),
        }
    };
    Ok(PropertyMetric {
        metric: int(field(value, "metric")?)? as usize,
        event_type: int(field(value, "event_type")?)? as usize,
        aggregate: match int(field(value, "aggregate")?)? {
            0 => Aggregate::Count,
            1 => Aggregate::Sum,
            2 => Aggregate::Distinct,
            3 => Aggregate::Top,
            other => return Err(format!("rule plan: unknown aggregate {other}")),
        },
        property: optional("property")?.map(|index| index as usize),
        days: optional("days")?,
        filter: match field(value, "where")? {
            Value::Null => None,
            tree => Some(expression(tree)?),
        },
        deadlines: field(value, "deadlines")?.as_bool().unwrap_or(false),
    })
}

/// `{"name": ..., "type": "text" | "bool" | "number" | "date", "values": [...]}`.
fn trait_declaration(value: &Value) -> Parsed<Trait> {
    let name = text(field(value, "name")?)?;
    let kind = match field(value, "type")?.as_str() {
        Some("text") => TraitKind::Text(list(field(value, "values")?)?.iter().map(text).collect::<Parsed<_>>()?),
        Some("bool") => TraitKind::Bool,
        Some("number") => TraitKind::Number,
        Some("date") => TraitKind::Date,
        _ => return Err(format!("rule plan: trait {name:?} has an unknown type")),
    };
    Ok(Trait { name, kind })
}

/// `{"name": ..., "fields": [[field, "text" | "number" | "bool", required], ...]}`.
fn custom_event(value: &Value) -> Parsed<CustomEvent> {
    let name = text(field(value, "name")?)?;
    let fields = list(field(value, "fields")?)?
        .iter()
        .map(|entry| {
            let kind = match entry[1].as_str() {
                Some("text") => FieldType::Text,
                Some("number") => FieldType::Number,
                Some("bool") => FieldType::Bool,
                _ => return Err(format!("rule plan: custom event {name:?} has a field of unknown type")),
            };
            Ok((text(&entry[0])?, kind, entry[2].as_bool().unwrap_or(true)))
        })
        .collect::<Parsed<_>>()?;
    Ok(CustomEvent { name, fields })
}

/// `[metric id, trait name]`.
fn trait_read(value: &Value) -> Parsed<(usize, String)> {
    Ok((int(&value[0])? as usize, text(&value[1])?))
}

fn family(value: &Value) -> Parsed<Family> {
    let name = text(field(value, "name")?)?;
    let kind = match field(value, "kind")?.as_str() {
        Some("cases") => Kind::Cases(
            list(field(value, "cases")?)?
                .iter()
                .map(|case| {
                    let parts = list(case)?;
                    let stay = match parts.get(3) {
                        None | Some(Value::Null) => None,
                        Some(stay) => {
                            let stay = list(stay)?;
                            Some((quoted(&text(&stay[0])?), expression(&stay[1])?))
                        }
                    };
                    Ok(Case {
                        value: scalar(&parts[0])?,
                        rule: quoted(&text(&parts[1])?),
                        condition: expression(&parts[2])?,
                        stay,
                    })
                })
                .collect::<Parsed<_>>()?,
        ),
        Some("top") => {
            let counter = int(field(value, "counter")?)? as usize;
            Kind::Top {
                counter,
                min_count: int(field(value, "min_count")?)?,
                rule: quoted(&format!(
                    "most frequent {}",
                    super::state::COUNTER_NAMES[counter.min(2)]
                )),
            }
        }
        Some("rfm_grid") => Kind::Grid(
            list(field(value, "grid")?)?
                .iter()
                .enumerate()
                .map(|(row, cells)| {
                    list(cells)?
                        .iter()
                        .enumerate()
                        .map(|(column, cell)| {
                            Ok((
                                scalar(cell)?,
                                quoted(&format!("rfm grid R={} FM={}", 5 - row, column + 1)),
                            ))
                        })
                        .collect()
                })
                .collect::<Parsed<_>>()?,
        ),
        Some("value") => {
            let metric = int(field(value, "metric")?)? as usize;
            Kind::Value {
                metric,
                rule: Vec::new(), // named once the metric names are known (`Plan::from_json`)
            }
        }
        _ => return Err(format!("rule plan: family {name:?} has an unknown kind")),
    };
    let reads = ids(field(value, "reads")?)?;
    Ok(Family {
        name_json: quoted(&name),
        name,
        default: scalar(field(value, "default")?)?,
        sorted_reads: reads.clone(),
        reads,
        kind,
        min_dwell_ms: int(field(value, "min_dwell_ms")?)?,
        depends_on: ids(field(value, "depends_on")?)?,
        tag_metric: None,
    })
}

impl Plan {
    pub fn from_json(raw: &[u8]) -> Parsed<Plan> {
        let doc: Value = serde_json::from_slice(raw).map_err(|error| format!("rule plan: {error}"))?;
        let metrics: Vec<String> = list(field(&doc, "metrics")?)?.iter().map(text).collect::<Parsed<_>>()?;
        let lifetime = list(field(&doc, "lifetime")?)?
            .iter()
            .map(|entry| {
                let id = int(&entry[0])? as usize;
                let kind = match entry[1].as_str() {
                    Some("orders_total") => Lifetime::Orders,
                    Some("revenue_total") => Lifetime::Revenue,
                    Some("events_total") => Lifetime::Events,
                    _ => return Err(format!("rule plan: unknown lifetime metric {}", entry[1])),
                };
                Ok((id, kind))
            })
            .collect::<Parsed<_>>()?;
        let rfm = match field(&doc, "rfm")? {
            Value::Null => None,
            rfm => Some(Rfm {
                recency_days: floats(field(rfm, "recency_days")?)?,
                frequency_metric: int(field(rfm, "frequency_metric")?)? as usize,
                frequency: floats(field(rfm, "frequency")?)?,
                monetary_metric: int(field(rfm, "monetary_metric")?)? as usize,
                monetary: floats(field(rfm, "monetary")?)?,
                scores: {
                    let scores = ids(field(rfm, "scores")?)?;
                    [scores[0], scores[1], scores[2], scores[3]]
                },
                days_since_last_order: int(field(rfm, "days_since_last_order")?)? as usize,
            }),
        };
        let triggers = list(field(&doc, "by_trigger")?)?;
        if triggers.len() != SOURCES {
            return Err(format!(
                "rule plan: by_trigger has {} event types, not {SOURCES}",
                triggers.len()
            ));
        }
        let mut by_trigger: [Vec<usize>; SOURCES] = Default::default();
        for (slot, families) in by_trigger.iter_mut().zip(triggers) {
            *slot = ids(families)?;
        }
        let rfm_inputs = rfm.as_ref().map_or(vec![], |rfm| {
            vec![rfm.days_since_last_order, rfm.frequency_metric, rfm.monetary_metric]
        });
        let pairs = |key: &str| -> Parsed<Vec<(usize, Anchor)>> {
            list(field(&doc, key)?)?
                .iter()
                .map(|entry| Ok((int(&entry[0])? as usize, anchor(&entry[1])?)))
                .collect()
        };
        let windows: Vec<Window> = each(&doc, "windows", window)?;
        let deadline_windows: Vec<Window> = each(&doc, "deadline_windows", window)?;
        let series = |orders: bool| {
            windows
                .iter()
                .filter(|w| w.orders == orders)
                .cloned()
                .collect::<Vec<_>>()
        };
        let mut families: Vec<Family> = each(&doc, "families", family)?;
        let tag_metrics: Vec<(usize, usize)> = each(&doc, "tag_metrics", |entry| {
            Ok((int(&entry[0])? as usize, int(&entry[1])? as usize))
        })?;
        for (index, family) in families.iter().enumerate() {
            if family.depends_on.iter().any(|dependency| *dependency >= index) {
                return Err(format!(
                    "rule plan: family {:?} reads a tag not decided before it",
                    family.name
                ));
            }
        }
        for &(metric, family) in &tag_metrics {
            match families.get_mut(family) {
                Some(family) if metric < metrics.len() => family.tag_metric = Some(metric),
                _ => return Err(format!("rule plan: bad tag metric {metric} of family {family}")),
            }
        }
        let properties: Vec<String> = each(&doc, "properties", text)?;
        let property_metrics: Vec<PropertyMetric> = each(&doc, "property_metrics", property_metric)?;
        for metric in &property_metrics {
            if metric.metric >= metrics.len()
                || metric.event_type >= by_trigger.len()
                || metric.property.is_some_and(|property| property >= properties.len())
            {
                return Err(format!("rule plan: bad property metric {}", metric.metric));
            }
        }
        let traits: Vec<Trait> = each(&doc, "traits", trait_declaration)?;
        let trait_metrics: Vec<(usize, String)> = each(&doc, "trait_metrics", trait_read)?;
        let age = match field(&doc, "age")? {
            Value::Null => None,
            read => Some(trait_read(read)?),
        };
        for (metric, name) in trait_metrics.iter().chain(&age) {
            if *metric >= metrics.len() || !traits.iter().any(|declared| declared.name == *name) {
                return Err(format!("rule plan: bad trait read {metric} of {name:?}"));
            }
        }
        for family in &mut families {
            if let Kind::Value { metric, rule } = &mut family.kind {
                let name = metrics
                    .get(*metric)
                    .ok_or_else(|| format!("rule plan: family {:?} reads an undeclared metric", family.name))?;
                *rule = quoted(&format!("value of {name}"));
            }
            if family.reads.iter().any(|read| *read >= metrics.len()) {
                return Err(format!(
                    "rule plan: family {:?} reads an undeclared metric",
                    family.name
                ));
            }
            family.sorted_reads.sort_by(|a, b| metrics[*a].cmp(&metrics[*b]));
            family.sorted_reads.dedup();
        }
        Ok(Plan {
            series_windows: [series(true), series(false)],
            edges: [edges(&deadline_windows, true), edges(&deadline_windows, false)],
            lateness_ms: int(field(&doc, "lateness_ms")?)?,
            dedup_ids: int(field(&doc, "dedup_ids")?)? as usize,
            reactivation_gap_days: int(field(&doc, "reactivation_gap_days")?)?,
            order_retention_days: int(field(&doc, "order_retention_days")?)?,
            activity_retention_days: int(field(&doc, "activity_retention_days")?)?,
            hour_bands: list(field(&doc, "hour_bands")?)?
                .iter()
                .map(|band| Ok((text(&band[0])?, int(&band[1])?, int(&band[2])?)))
                .collect::<Parsed<_>>()?,
            windows,
            deadline_windows,
            recency: pairs("recency")?,
            lifetime,
            rfm,
            recency_steps: list(field(&doc, "recency_steps")?)?
                .iter()
                .map(|entry| {
                    Ok((
                        int(&entry[0])? as usize,
                        anchor(&entry[1])?,
                        list(&entry[2])?.iter().map(int).collect::<Parsed<_>>()?,
                    ))
                })
                .collect::<Parsed<_>>()?,
            dwelling: (0..families.len())
                .filter(|index| families[*index].min_dwell_ms > 0)
                .collect(),
            families,
            tag_metrics,
            properties,
            property_metrics,
            traits,
            trait_metrics,
            age,
            custom_events: each(&doc, "custom_events", custom_event)?,
            by_trigger,
            rfm_inputs,
            metric_keys: metrics
                .iter()
                .map(|name| [quoted(name), b":".to_vec()].concat())
                .collect(),
            metrics,
        })
    }

    /// Per family, the values the pack can give it: small integers in the stored state.
    pub fn tag_tables(&self) -> super::codec::TagTables {
        let values = self
            .families
            .iter()
            .map(|family| {
                let mut values: Vec<Scalar> = match &family.kind {
                    Kind::Cases(cases) => cases.iter().map(|case| case.value.clone()).collect(),
                    Kind::Grid(grid) => grid.iter().flatten().map(|(value, _)| value.clone()).collect(),
                    Kind::Top { .. } | Kind::Value { .. } => vec![],
                };
                values.push(family.default.clone());
                let mut unique: Vec<Scalar> = vec![];
                for value in values {
                    if !unique.contains(&value) {
                        unique.push(value);
                    }
                }
                unique
            })
            .collect();
        super::codec::TagTables::new(self.families.iter().map(|family| family.name.clone()).collect(), values)
    }

    /// The hour band of an order placed at `hour` (UTC), bands wrapping midnight allowed.
    pub fn hour_band(&self, hour: i64) -> Option<usize> {
        self.hour_bands.iter().position(|(_, first, last)| {
            if first <= last {
                *first <= hour && hour <= *last
            } else {
                hour >= *first || hour <= *last
            }
        })
    }
}
