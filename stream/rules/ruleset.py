"""Load and validate a rule pack (TOML) into a `RuleSet` the engine can run.

Validation happens once, at start, and every error names the file, the key path and the problem,
e.g. `default.toml: families.lifecycle.cases[2].when: unknown metric 'dayz_since_last_order'`.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import TypeGuard

from schemas.events import CUSTOM, EVENT_TYPES, MAX_LABEL_CHARS, PROFILE
from stream.metrics import (
    AGE,
    AGGREGATES,
    CustomEvent,
    BIRTH_DATE,
    FIELD_TYPES,
    MAX_TRAIT_VALUES,
    TRAIT_TYPES,
    LIFETIME,
    RECENCY_ANCHORS,
    RFM,
    MetricPlan,
    PropertyMetric,
    RfmScale,
    Trait,
    Window,
    changed_by,
    parse_window,
)
from stream.rules.expressions import TAG_PREFIX, TRAIT_PREFIX, CompiledCondition, ExpressionError, compile_condition
from stream.rules.families import Case, CaseFamily, Family, GridFamily, TagValue, TopFamily, ValueFamily
from stream.timeutil import parse_duration

DEFAULT_RULES = Path(__file__).resolve().parents[2] / "config" / "rules" / "default.toml"
COUNTERS = ("channel", "category", "hour_band")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # a property metric or an event property
# The snapshot record's and Redis profile's own fields: a property metric is listed beside them.
RECORD_FIELDS = frozenset({"customer_id", "as_of", "as_of_ms", "orders_total", "revenue_total", "events_total",
                           "first_order_at", "last_order_at", "days_since_last_order", "updated_at",
                           "pending_events", "late_events"})
METRIC_KEYS = ("event", "aggregate", "property", "days", "where")
_EVENT_ENVELOPE = ("event_id", "type", "customer_id", "ts", "properties")  # not a custom event's own fields
PACK_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
PACK_NAME_RULE = "1 to 64 letters, digits, '.', '_' or '-'"
CURRENCY = re.compile(r"[A-Z]{3}")
MAX_DWELL_MS = 3650 * 86_400_000


class RuleError(ValueError):
    """A rule pack is invalid; the message starts with `file: key.path:`."""


@dataclass(frozen=True)
class RuleSet:
    source: str
    name: str  # [about] name, else the file's stem as it is: what a report says it was tagged with
    digest: str  # the pack file's SHA-256, first 12 hex digits: tells two edits of one name apart
    currency: str | None  # [about] currency (ISO 4217): the unit of amounts and revenue thresholds
    allowed_lateness_ms: int
    dedup_ids: int
    reactivation_gap_days: int
    order_windows: tuple[int, ...]
    activity_windows: tuple[int, ...]
    hour_bands: tuple[tuple[str, int, int], ...]  # (name, first hour, last hour) in UTC
    families: tuple[Family, ...]
    plan: MetricPlan = field(compare=False)
    property_metrics: tuple[PropertyMetric, ...] = ()
    traits: tuple[Trait, ...] = ()
    custom_events: tuple[CustomEvent, ...] = ()
    # event type -> the families an event of that type can change (the rest wait for a deadline)
    by_trigger: dict[str, tuple[Family, ...]] = field(compare=False, default_factory=dict)

    @cached_property
    def order_retention_days(self) -> int:
        return _retention(self.plan.windows, "order", self.order_windows)

    @cached_property
    def activity_retention_days(self) -> int:
        return _retention(self.plan.windows, "activity", self.activity_windows)

    def hour_band(self, hour: int) -> str | None:
        for name, first, last in self.hour_bands:
            if (first <= hour <= last) if first <= last else (hour >= first or hour <= last):
                return name
        return None


def _retention(windows: list[Window], series: str, declared: tuple[int, ...]) -> int:
    """Buckets are kept for the longest declared window (reported in snapshots) or twice a
    window whose previous period a rule compares with."""
    spans = [w.days * (2 if w.previous else 1) for w in windows if w.series == series]
    return max([*spans, *declared, 1])


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read and validate a rule pack; `None` means the default pack shipped in config/rules."""
    path = Path(path) if path else DEFAULT_RULES
    try:
        content = path.read_bytes()
        document = tomllib.loads(content.decode("utf-8"))
    except FileNotFoundError:
        raise RuleError(f"{path}: rule file not found") from None
    except UnicodeDecodeError as error:
        raise RuleError(f"{path}: not UTF-8 text: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise RuleError(f"{path}: {error}") from None
    return _Builder(str(path), document).build(default_name=path.stem, digest=hashlib.sha256(content).hexdigest()[:12])


FAMILY_KEYS = {  # per kind, the keys a family table may have
    "cases": ("kind", "pack", "default", "cases", "min_dwell"),
    "top": ("kind", "pack", "default", "counter", "min_count", "min_dwell"),
    "rfm_grid": ("kind", "pack", "default", "grid", "min_dwell"),
    "value": ("kind", "pack", "default", "metric", "min_dwell"),
}


class _Builder:
    def __init__(self, source: str, document: dict) -> None:
        self.source = source
        self.doc = document
        self.required: set[str] = set()  # metrics some rule reads
        self.property_metric_names: set[str] = set()
        self.text_metrics: set[str] = set()  # property metrics and traits compared only by ==, != or truth
        self.trait_types: dict[str, str] = {}  # declared trait -> its type
        self.family_names: set[str] = set()  # the enabled families: what `tag.<family>` may read

    def fail(self, key: str, problem: str) -> RuleError:
        return RuleError(f"{self.source}: {key}: {problem}")

    def section(self, key: str, allowed: tuple[str, ...] | None = None) -> dict:
        value = self.doc.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        if allowed is not None:
            self.only(key, value, allowed)
        return value

    def only(self, key: str, table: dict, allowed: tuple[str, ...]) -> None:
        """A misspelt setting would otherwise be ignored silently and its default used."""
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}", f"unknown key (expected {', '.join(allowed)})")

    def build(self, default_name: str, digest: str) -> RuleSet:
        sections = ("about", "time", "state", "windows", "rfm", "hour_bands", "packs", "traits", "events", "metrics", "families")
        unknown = set(self.doc) - set(sections)
        if unknown:
            raise self.fail(sorted(unknown)[0], f"unknown section (expected {', '.join(sections)})")
        about = self.section("about", ("name", "currency"))
        time = self.section("time", ("allowed_lateness",))
        state = self.section("state", ("dedup_ids", "reactivation_gap_days"))
        windows = self.section("windows", ("orders", "activity"))
        self.order_windows = self.day_list(windows, "windows.orders", windows.get("orders", [30, 90, 365]))
        self.activity_windows = self.day_list(windows, "windows.activity", windows.get("activity", [7, 30, 90]))
        self.plan = MetricPlan()
        self.time_dependent = set(RECENCY_ANCHORS)
        self.steps: dict[str, set[int]] = {}
        self.plan.rfm = self.rfm_scale()
        self.traits = self.trait_definitions()
        self.custom_events = self.event_definitions()
        self.property_metrics = self.metric_definitions()
        families = self.families()
        self.finish_plan()
        return RuleSet(
            by_trigger=self.triggers(families),
            source=self.source,
            name=self.matching("about.name", about["name"], PACK_NAME, PACK_NAME_RULE) if "name" in about else default_name,
            digest=digest,
            currency=self.matching("about.currency", about["currency"], CURRENCY, "an ISO 4217 code such as EUR") if "currency" in about else None,
            allowed_lateness_ms=self.duration(time, "time.allowed_lateness", time.get("allowed_lateness", "5m")),
            dedup_ids=self.positive_int("state.dedup_ids", state.get("dedup_ids", 64)),
            reactivation_gap_days=self.positive_int("state.reactivation_gap_days", state.get("reactivation_gap_days", 90)),
            order_windows=self.order_windows,
            activity_windows=self.activity_windows,
            hour_bands=self.hour_bands(),
            families=families,
            plan=self.plan,
            property_metrics=self.property_metrics,
            traits=self.traits,
            custom_events=self.custom_events,
        )

    def matching(self, key: str, value: object, pattern: re.Pattern, expected: str) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise self.fail(key, f"must be {expected}, got {value!r}")
        return value

    def duration(self, table: dict, key: str, value: object) -> int:
        try:
            return parse_duration(str(value))
        except ValueError as error:
            raise self.fail(key, str(error)) from None

    def positive_int(self, key: str, value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.fail(key, f"must be a positive whole number, got {value!r}")
        return value

    def day_list(self, table: dict, key: str, value: object) -> tuple[int, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(key, "must be a non-empty list of window lengths in days")
        return tuple(sorted({self.positive_int(key, v) for v in value}))

    def numbers(self, key: str, value: object, length: int = 4) -> tuple[float, ...]:
        if (
            not isinstance(value, list)
            or len(value) != length
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or list(value) != sorted(value)
        ):
            raise self.fail(key, f"must be {length} ascending numbers (the score boundaries 2..5)")
        return tuple(float(v) for v in value)

    def known(self, name: str) -> bool:
        if name.startswith(f"{TAG_PREFIX}."):
            return name.removeprefix(f"{TAG_PREFIX}.") in self.family_names
        if name.startswith(f"{TRAIT_PREFIX}."):
            declared = self.trait_types.get(name.removeprefix(f"{TRAIT_PREFIX}."))
            return declared is not None and declared != "date"
        if name == AGE:
            return self.trait_types.get(BIRTH_DATE) == "date"
        return (
            name in self.property_metric_names
            or name in LIFETIME
            or name in RECENCY_ANCHORS
            or (name in RFM and self.plan.rfm is not None)
            or parse_window(name, self.order_windows, self.activity_windows) is not None
        )

    def trait_definitions(self) -> tuple[Trait, ...]:
        traits = tuple(self.trait_definition(f"traits.{name}", name, spec) for name, spec in self.section("traits").items())
        self.trait_types = {t.name: t.type for t in traits}
        # text and true/false traits are compared like tags (==, != or truth)
        self.text_metrics = {f"{TRAIT_PREFIX}.{t.name}" for t in traits if t.is_text}
        return traits

    def trait_definition(self, key: str, name: str, spec: object) -> Trait:
        if not isinstance(spec, dict):
            raise self.fail(key, "must be a table")
        self.only(key, spec, ("type", "values"))
        if not NAME.match(name):
            raise self.fail(key, "a trait's name is lower_snake_case (up to 64 characters)")
        kind = spec.get("type")
        if kind not in TRAIT_TYPES:
            raise self.fail(f"{key}.type", f"must be one of {', '.join(TRAIT_TYPES)}, got {kind!r}")
        values = spec.get("values")
        if kind != "text":
            if values is not None:
                raise self.fail(f"{key}.values", f"only a text trait lists its values (this one is {kind})")
            return Trait(name, kind)
        if (
            not isinstance(values, list)
            or not 0 < len(values) <= MAX_TRAIT_VALUES
            or not all(isinstance(v, str) and 0 < len(v) <= MAX_LABEL_CHARS for v in values)
            or len(set(values)) != len(values)
        ):
            raise self.fail(f"{key}.values", f"a text trait lists its values: 1..{MAX_TRAIT_VALUES} distinct strings "
                                             f"of 1..{MAX_LABEL_CHARS} characters, e.g. values = [\"home\", \"out_of_town\"]")
        return Trait(name, kind, tuple(values))

    def event_definitions(self) -> tuple[CustomEvent, ...]:
        return tuple(self.event_definition(f"events.{name}", name, spec) for name, spec in self.section("events").items())

    def event_definition(self, key: str, name: str, spec: object) -> CustomEvent:
        """A kind of custom event: what its fields (top-level or in `properties`) must be."""
        if not isinstance(spec, dict):
            raise self.fail(key, "must be a table")
        self.only(key, spec, ("fields",))
        if not NAME.match(name) or name in EVENT_TYPES:
            raise self.fail(key, "a custom event's name is lower_snake_case (up to 64 characters), not a built-in type")
        fields = spec.get("fields", {})
        if not isinstance(fields, dict):
            raise self.fail(f"{key}.fields", 'must be a table of field = "type", e.g. { topic = "text", amount = "number?" }')
        declared = []
        for field_name, kind in fields.items():
            base = kind.removesuffix("?") if isinstance(kind, str) else None
            if base not in FIELD_TYPES or not NAME.match(field_name) or field_name in ("name", *_EVENT_ENVELOPE):
                raise self.fail(f"{key}.fields.{field_name}", f"must be one of {', '.join(FIELD_TYPES)} (with ? if "
                                                              f"optional) on a lower_snake_case field, got {kind!r}")
            declared.append((field_name, base, not kind.endswith("?")))
        return CustomEvent(name, tuple(declared))

    def metric_definitions(self) -> tuple[PropertyMetric, ...]:
        metrics = [self.metric_definition(f"metrics.{name}", name, spec) for name, spec in self.section("metrics").items()]
        self.property_metric_names = {metric.name for metric in metrics}
        self.text_metrics |= {metric.name for metric in metrics if metric.is_text}
        return tuple(metrics)

    def metric_definition(self, key: str, name: str, spec: object) -> PropertyMetric:
        if not isinstance(spec, dict):
            raise self.fail(key, "must be a table")
        self.only(key, spec, METRIC_KEYS)
        if not NAME.match(name) or self.known(name) or name in RECORD_FIELDS:
            raise self.fail(key, "a metric's name is lower_snake_case (up to 64 characters), not a built-in metric "
                                 "or a field of the customer record")
        event = spec.get("event")
        where = spec.get("where")
        if event in {e.name for e in self.custom_events}:  # a declared custom event: selected by its name
            where = f"name == {event!r}" + ("" if where is None else f" and ({where})")
            event = CUSTOM
        if event == PROFILE:
            raise self.fail(f"{key}.event", "a profile sets traits: declare them in [traits] and read trait.<name>")
        if event not in EVENT_TYPES:
            kinds = [t for t in EVENT_TYPES if t != PROFILE] + [e.name for e in self.custom_events]
            raise self.fail(f"{key}.event", f"must be one of {', '.join(kinds)}, got {event!r}")
        aggregate = spec.get("aggregate", "count")
        if aggregate not in AGGREGATES:
            raise self.fail(f"{key}.aggregate", f"must be one of {', '.join(AGGREGATES)}, got {aggregate!r}")
        read = spec.get("property")
        if aggregate == "count" and read is not None:
            raise self.fail(f"{key}.property", "a count reads no property (filter with `where`)")
        if aggregate != "count" and not (isinstance(read, str) and NAME.match(read)):
            raise self.fail(f"{key}.property", f"a {aggregate} needs the property it reads, e.g. property = \"page\"")
        days = spec.get("days")
        if days is not None and (self.positive_int(f"{key}.days", days) > 3650):
            raise self.fail(f"{key}.days", f"at most 3650 days, got {days}")
        return PropertyMetric(name, event, aggregate, read, days, None if where is None else self.predicate(f"{key}.where", where))

    def predicate(self, key: str, text: object) -> CompiledCondition:
        if not isinstance(text, str):
            raise self.fail(key, "must be a string expression")
        try:
            return compile_condition(text, lambda name: bool(NAME.match(name)), predicate=True)
        except ExpressionError as error:
            raise self.fail(key, str(error)) from None

    def rfm_scale(self) -> RfmScale | None:
        rfm = self.section("rfm", ("recency_days", "frequency_metric", "frequency", "monetary_metric", "monetary"))
        if not rfm:
            return None
        scale = RfmScale(
            recency_days=self.numbers("rfm.recency_days", rfm.get("recency_days")),
            frequency_metric=self.window_name("rfm.frequency_metric", rfm.get("frequency_metric", "orders_365d")),
            frequency=self.numbers("rfm.frequency", rfm.get("frequency")),
            monetary_metric=self.window_name("rfm.monetary_metric", rfm.get("monetary_metric", "revenue_365d")),
            monetary=self.numbers("rfm.monetary", rfm.get("monetary")),
        )
        return scale

    def window_name(self, key: str, name: object) -> str:
        if not isinstance(name, str) or parse_window(name, self.order_windows, self.activity_windows) is None:
            raise self.fail(key, f"{name!r} is not a declared window metric (e.g. orders_365d)")
        return name

    def hour_bands(self) -> tuple[tuple[str, int, int], ...]:
        bands = self.section("hour_bands") or {"night_owl": [22, 4], "morning": [5, 11], "daytime": [12, 17], "evening": [18, 21]}
        result = []
        for name, span in bands.items():
            if not (isinstance(span, list) and len(span) == 2 and all(type(h) is int and 0 <= h <= 23 for h in span)):
                raise self.fail(f"hour_bands.{name}", "must be [first_hour, last_hour] with hours 0..23 (UTC)")
            result.append((name, span[0], span[1]))
        return tuple(result)

    def families(self) -> tuple[Family, ...]:
        packs = self.section("packs")
        for pack, enabled in packs.items():
            if not isinstance(enabled, bool):
                raise self.fail(f"packs.{pack}", f"must be true or false, got {enabled!r}")
        declared = self.section("families")
        if not declared:
            raise self.fail("families", "a rule pack needs at least one family")
        enabled = {}
        for name, spec in declared.items():
            key = f"families.{name}"
            if not isinstance(spec, dict):
                raise self.fail(key, "must be a table")
            pack = spec.get("pack")
            if pack is not None and pack not in packs:
                listed = ", ".join(sorted(packs)) or "none"
                raise self.fail(f"{key}.pack", f"pack {pack!r} is not declared in [packs] (declared: {listed})")
            if pack is None or packs[pack]:
                enabled[name] = spec
        self.family_names = set(enabled)
        families = [self.family(f"families.{name}", name, spec) for name, spec in enabled.items()]
        return self.in_dependency_order(families)

    def in_dependency_order(self, families: list[Family]) -> tuple[Family, ...]:
        """Families reading `tag.<other>` come after that other family, so one pass decides
        both at the same instant; otherwise the pack's order is kept. A cycle is refused."""
        by_name = {family.name: family for family in families}
        placed: dict[str, Family] = {}

        def place(family: Family, path: tuple[str, ...]) -> None:
            if family.name in placed:
                return
            if family.name in path:
                cycle = " -> ".join((*path[path.index(family.name):], family.name))
                raise self.fail(f"families.{family.name}", f"tag reads form a cycle: {cycle}")
            for dependency in sorted(tag_reads(family), key=list(by_name).index):  # in the pack's order
                place(by_name[dependency], (*path, family.name))
            placed[family.name] = family

        for family in families:
            place(family, ())
        return tuple(placed.values())

    def family(self, key: str, name: str, spec: dict) -> Family:
        kind = spec.get("kind", "cases")
        if kind in FAMILY_KEYS:
            self.only(key, spec, FAMILY_KEYS[kind])
        default = self.tag_value(f"{key}.default", spec.get("default"))
        dwell = self.min_dwell(f"{key}.min_dwell", spec.get("min_dwell", "0s"))
        if kind == "cases":
            return self.case_family(key, name, spec, default, dwell)
        if kind == "top":
            counter = spec.get("counter")
            if counter not in COUNTERS:
                raise self.fail(f"{key}.counter", f"must be one of {COUNTERS}, got {counter!r}")
            min_count = self.positive_int(f"{key}.min_count", spec.get("min_count", 1))
            return TopFamily(name, counter, default, min_count, min_dwell_ms=dwell)
        if kind == "rfm_grid":
            if self.plan.rfm is None:
                raise self.fail(key, "an rfm_grid family needs an [rfm] section")
            return GridFamily(name, self.grid(f"{key}.grid", spec.get("grid")), default, min_dwell_ms=dwell)
        if kind == "value":
            metric = spec.get("metric")
            if metric not in self.property_metric_names:
                declared = ", ".join(sorted(self.property_metric_names)) or "none"
                raise self.fail(f"{key}.metric", f"must name a metric of [metrics] (declared: {declared}), got {metric!r}")
            return ValueFamily(name, metric, default, (metric,), min_dwell_ms=dwell)
        raise self.fail(f"{key}.kind", f"unknown kind {kind!r} (expected cases, top, rfm_grid or value)")

    def min_dwell(self, key: str, value: object) -> int:
        """How long a value is kept before the family may change again ("14d", "12h"; 0: no
        minimum). At most ten years: a longer dwell is a family that never changes."""
        dwell = self.duration({}, key, value)
        if not 0 <= dwell <= MAX_DWELL_MS:
            raise self.fail(key, f"must be between 0s and 3650d, got {value!r}")
        return dwell

    def case_family(self, key: str, name: str, spec: dict, default: TagValue, dwell: int) -> CaseFamily:
        raw_cases = spec.get("cases")
        if not isinstance(raw_cases, list) or not raw_cases:
            raise self.fail(f"{key}.cases", "must be a non-empty list of {value = ..., when = \"...\"}")
        cases = []
        for index, case in enumerate(raw_cases):
            where = f"{key}.cases[{index}]"
            if not isinstance(case, dict) or not {"value", "when"} <= set(case) <= {"value", "when", "stay"}:
                raise self.fail(where, "must have `value` and `when`, and may have `stay`")
            stay = self.condition(f"{where}.stay", case["stay"]) if "stay" in case else None
            value = self.tag_value(f"{where}.value", case["value"])
            cases.append(Case(value, self.condition(f"{where}.when", case["when"]), stay))
        reads = sorted({n for case in cases for c in (case.condition, case.stay) if c for n in c.names})
        return CaseFamily(name, tuple(cases), default, tuple(reads), min_dwell_ms=dwell)

    def condition(self, key: str, text: object) -> CompiledCondition:
        if not isinstance(text, str):
            raise self.fail(key, "must be a string expression")
        try:
            compiled = compile_condition(text, self.known, self.time_dependent, self.text_metrics)
        except ExpressionError as error:
            raise self.fail(key, str(error)) from None
        for metric, steps in compiled.steps.items():
            self.steps.setdefault(metric, set()).update(steps)
        self.require(compiled.names)
        return compiled

    def tag_value(self, key: str, value: object) -> TagValue:
        if value is None or not isinstance(value, (str, bool, int, float)):
            raise self.fail(key, "must be a string, boolean or number")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(key, f"must be a finite number, got {value}")
        if type(value) is int and not -(2**63) <= value < 2**63:
            raise self.fail(key, f"the number {value} is out of range (whole numbers are 64-bit)")
        return value

    def grid(self, key: str, grid: object) -> tuple[tuple[str, ...], ...]:
        if not _is_grid(grid):
            raise self.fail(key, "must be 5 rows (R = 5 down to 1) of 5 segment names (FM = 1 to 5)")
        self.require(RFM)
        return tuple(tuple(row) for row in grid)

    def triggers(self, families: tuple[Family, ...]) -> dict[str, tuple[Family, ...]]:
        """Which families an event of each type can change: those reading a metric it moves
        (or a counter, for orders), and those reading the tag of such a family. Between deadlines
        nothing else moves, so nothing else needs re-deciding; that skips most of the work for the
        frequent opens, clicks and visits. `families` is in dependency order, so one pass closes it."""
        windows = partial(parse_window, order_days=self.order_windows, activity_days=self.activity_windows)
        fed_by = {metric.name: metric.event_type for metric in self.property_metrics}
        by_type = {}
        for event_type in EVENT_TYPES:
            moved: dict[str, Family] = {}
            for f in families:
                if (
                    (isinstance(f, TopFamily) and event_type == "order")
                    or any(changed_by(event_type, name, windows(name)) for name in f.reads)
                    or any(fed_by.get(name) == event_type for name in f.reads)
                    or (event_type == PROFILE and any(_reads_trait(name) for name in f.reads))
                    or any(dependency in moved for dependency in tag_reads(f))
                ):
                    moved[f.name] = f
            by_type[event_type] = tuple(moved.values())
        return by_type

    def require(self, names: Iterable[str]) -> None:
        self.required |= set(names)

    def finish_plan(self) -> None:
        required = set(self.required)
        scale = self.plan.rfm
        if required & set(RFM) and scale is not None:
            required |= {"days_since_last_order", scale.frequency_metric, scale.monetary_metric}
            # R is `5 - count(recency >= t)`: each boundary flips at ceil(t) days.
            self.steps.setdefault("days_since_last_order", set()).update(_ceil(t) for t in scale.recency_days)
        windows = partial(parse_window, order_days=self.order_windows, activity_days=self.activity_windows)
        self.plan.deadline_windows = [w for n in sorted(required) if (w := windows(n))]
        # Snapshots report every declared window, so the plan always computes them.
        required |= {f"{s}_{d}d" for s in ("orders", "revenue") for d in self.order_windows}
        required |= {f"{s}_{d}d" for s in ("opens", "clicks", "visits") for d in self.activity_windows}
        required |= {"days_since_last_order"}
        if scale is not None:  # RFM scores are always computed (snapshots report them): so are their inputs
            required |= {scale.frequency_metric, scale.monetary_metric}
        self.plan.windows = [w for n in sorted(required) if (w := windows(n))]
        self.plan.recency = sorted(n for n in required if n in RECENCY_ANCHORS)
        self.plan.lifetime = sorted(n for n in required if n in LIFETIME)
        self.plan.recency_steps = {
            metric: tuple(sorted(step for step in steps if step >= 0)) for metric, steps in self.steps.items()
        }


def tag_reads(family: Family) -> list[str]:
    """The families whose current value `family` reads (`tag.<name>` in its conditions)."""
    prefix = f"{TAG_PREFIX}."
    return [name.removeprefix(prefix) for name in family.reads if name.startswith(prefix)]


def _is_grid(grid: object) -> TypeGuard[list[list[str]]]:
    """Five rows of five strings."""
    if not (isinstance(grid, list) and len(grid) == 5):
        return False
    return all(isinstance(row, list) and len(row) == 5 and all(isinstance(cell, str) for cell in row) for row in grid)


def _reads_trait(name: str) -> bool:
    """A metric a profile event can change: a trait, or the age counted from one."""
    return name.startswith(f"{TRAIT_PREFIX}.") or name == AGE


def _ceil(value: float) -> int:
    return int(-(-value // 1))
