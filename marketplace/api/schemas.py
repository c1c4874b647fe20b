"""The shapes of Open API v1, as pydantic models: they check what comes in, serialise what goes
out, and are the schemas of the OpenAPI document. Amounts are integers in fen (1/100 yuan);
dates are ISO 8601; timestamps are UTC."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


NextCursor = Annotated[
    str | None, Field(description="Pass as `cursor` for the next page; null at the end.")
]


class FieldError(Schema):
    field: str = Field(description="Where the problem is, e.g. `period_end` or `body`.")
    message: str


class Problem(Schema):
    """RFC 9457 problem details."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(
        default=None, description="Each field's problem (422 only)."
    )


# The catalogue


class Ref(Schema):
    id: int
    name: str


class ProviderRef(Ref):
    type: Literal["integrator", "scenario"]


class Category(Schema):
    code: str
    name_zh: str
    name_en: str


class Tier(Schema):
    from_quantity: int = Field(
        description="From this unit of the month on (counting included units)."
    )
    unit_price_fen: int


class Plan(Schema):
    id: int
    kind: Literal["one_time", "subscription", "outcome", "usage"]
    name: str
    amount_fen: int | None = Field(description="One-time price, or an outcome plan's base fee.")
    monthly_fen: int | None
    term_months: int | None
    billed_monthly: bool
    metric: str | None = Field(description="Outcome plans: the metric measured.")
    target_kind: str | None
    target_value: float | None
    fee_rule: str | None
    success_fee_fen: int | None
    fee_per_unit_fen: int | None
    fee_cap_fen: int | None
    window_days: int | None
    unit: str | None = Field(
        description="Usage plans: what is metered (devices, report_calls, data_points, users)."
    )
    unit_price_fen: int | None = Field(
        description="Usage plans: the price of a unit from the first."
    )
    tiers: list[Tier] = Field(description="Usage plans: graduated tiers, by `from_quantity`.")
    included_quantity: int | None = Field(description="Usage plans: units free each month.")
    minimum_fen: int | None = Field(description="Usage plans: the least a month is billed.")
    cap_fen: int | None = Field(description="Usage plans: the most a month is billed.")


class Trial(Schema):
    """A package's trial offer: one trial per enterprise; vouchers never pay for it."""

    days: int = Field(description="How long the trial lasts, 1–90 days.")
    price_fen: int = Field(description="0 for a free trial, else below the entry price.")
    limits: str = Field(description="What the trial leaves out, in the provider's words.")


class Interface(Schema):
    flow: Literal["consumes", "produces"]
    protocol: str
    data_object: str


class Rating(Schema):
    average: float | None = Field(description="Mean of verified buyers' ratings, 1–5.")
    count: int


class Evaluations(Schema):
    """The provider's verdicts in agencies' closed evaluation rounds."""

    passed: int
    failed: int


class PackageProvider(ProviderRef):
    evaluations: Evaluations


class MetricImprovement(Schema):
    metric: str
    median_change: float = Field(
        description="Median of achieved minus baseline, in the metric's units; positive is better."
    )
    cases: int


class TrackRecord(Schema):
    """Verified results on this platform (see /track-record/how). A figure is `null` when no case
    stands behind it; `cases` says how many do (fewer than 3: of limited weight)."""

    contracts_met: int
    contracts_missed: int
    median_improvement_pct: float | None = Field(
        description="Median improvement of settled outcome contracts, in per cent of the baseline."
    )
    on_time_delivery_pct: float | None = Field(
        description="Accepted lines delivered within the promised go-live days, in per cent."
    )
    sla_met_pct: float | None = Field(
        description="Support tickets that kept both the response and the resolution clock, in per cent."
    )
    cases: dict[str, int] = Field(
        description="Cases behind each figure: `contracts`, `improvement`, `delivery`, `sla`."
    )
    metrics: list[MetricImprovement]


class Package(Schema):
    id: int
    version: int
    title: str
    summary: str
    category: Category
    provider: PackageProvider
    deployment: str
    industries: list[str]
    size_tiers: list[str]
    plans: list[Plan]
    trial: Trial | None = Field(description="The trial offer; `null` when there is none.")
    go_live_days: int
    sla_response_hours: int
    interfaces: list[Interface]
    rating: Rating
    track_record: TrackRecord
    published_at: datetime | None


class PackageDetail(Package):
    description: str
    enterprise_provides: str


class AppointedIntegrator(Schema):
    """An integrator the programme appoints now (its term runs and it was not ended), with the
    reason recorded; /transparency shows the call, criteria and applicants' scores too."""

    provider: Ref
    reason: str = Field(description="Why this integrator was appointed.")
    term_end: date = Field(description="The last day the appointment counts.")
    integration_fee_cap_pct: float = Field(
        description="Cap on its integration fee, in per cent of the bundle (e.g. 8.5)."
    )


class AdmissionFigures(Schema):
    """Decisions on package admission (准入) in the programme, as on /transparency: versions
    admitted and not admitted by the agency or its assessor (inherited ones are not counted)."""

    admitted: int
    rejected: int
    median_days: float | None = Field(description="Median days from waiting to decision.")


class Programme(Schema):
    """A voucher programme's public figures, the same as on /transparency (sums of the voucher
    ledger: issued counts revoked vouchers too, redeemed counts clawed-back redemptions too)."""

    id: int
    name: str
    agency: Ref
    mode: Literal["open", "integrator", "hybrid"]
    status: Literal["open", "closed"]
    budget_fen: int
    issued_fen: int = Field(description="Every voucher issued, at face value.")
    revoked_fen: int = Field(description="Vouchers taken back unused: back in the budget.")
    redeemed_fen: int = Field(description="Spent at acceptance of delivery (验收).")
    settled_fen: int = Field(description="Paid out to providers.")
    clawed_back_fen: int = Field(description="Redemptions found not genuine.")
    expired_fen: int
    available_fen: int = Field(description="What holders may still spend.")
    appointed_integrators: list[AppointedIntegrator] = Field(
        description="Integrator mode and hybrid mode: the integrators appointed now."
    )
    admissions: AdmissionFigures


class ProgrammeList(Schema):
    items: list[Programme]
    next_cursor: NextCursor


class Admission(Schema):
    """A published package version's standing in a programme: its vouchers pay only for
    admitted versions; one without a decision waits (it can be bought without vouchers)."""

    package_id: int
    version: int
    title: str
    provider: Ref
    state: Literal["pending", "admitted", "rejected"]
    decided_at: datetime | None = Field(
        description="When the decision was recorded (or kept from the previous version); null while pending."
    )
    inherited: bool = Field(
        description="Kept from the previous version, which differs from this one only in texts."
    )


class AdmissionList(Schema):
    items: list[Admission]
    next_cursor: NextCursor


class PackageList(Schema):
    items: list[Package]
    next_cursor: NextCursor


# Orders


class Line(Schema):
    id: int
    kind: Literal["package", "integration"]
    package_id: int | None
    title: str
    provider: Ref
    plan_kind: str
    plan_name: str
    amount_fen: int | None
    monthly_fen: int | None
    term_months: int | None
    committed_fen: int
    status: str
    delivered_at: datetime | None
    events: list[str] = Field(description="The transitions this token's organisation may make now.")


class Order(Schema):
    number: str
    created_at: datetime
    enterprise: Ref
    lines: list[Line] = Field(description="For a provider: only the lines it fulfils.")


class OrderList(Schema):
    items: list[Order]
    next_cursor: NextCursor


class TransitionIn(Schema):
    event: Literal[
        "accept",
        "reject",
        "cancel",
        "start",
        "deliver",
        "accept_delivery",
        "dispute",
        "redeliver",
        "settle",
    ]
    note: str = Field(default="", max_length=2000, description="The reason, where one is needed.")


# Contracts and measurements


class Contract(Schema):
    id: int
    order_line_id: int
    title: str
    status: str
    enterprise: Ref
    provider: Ref
    metric: str
    unit: str
    better: Literal["higher", "lower"]
    target_kind: str
    target_value: float
    baseline_value: float | None
    window_start: date | None
    window_end: date | None
    achieved_value: float | None
    fee_fen: int | None


class ContractList(Schema):
    items: list[Contract]
    next_cursor: NextCursor


class MeasurementIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    external_id: str = Field(min_length=1, max_length=100, description="Your id; repeats are safe.")
    period_start: date
    period_end: date
    value: float
    note: str = Field(default="", max_length=2000)


class UsageIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    external_id: str = Field(min_length=1, max_length=100, description="Your id; repeats are safe.")
    metric: str = Field(max_length=40, description="The unit the line's plan meters.")
    quantity: int = Field(ge=0, le=10**12, description="Units used in the period (whole, ≥ 0).")
    period_start: date
    period_end: date = Field(description="In the same calendar month as `period_start`.")


class UsageRecord(Schema):
    id: int
    order_line_id: int
    external_id: str
    metric: str
    quantity: int
    period_start: date
    period_end: date
    month: str = Field(description="The month it is billed with, YYYY-MM.")
    status: Literal["counted", "disputed", "removed"]
    billed: bool
    created_at: datetime


class Measurement(Schema):
    id: int
    contract_id: int
    external_id: str
    period_start: date
    period_end: date
    value: float
    note: str
    status: str
    source: str
    created_at: datetime


class MeasurementList(Schema):
    items: list[Measurement]
    next_cursor: NextCursor


# Money


class Invoice(Schema):
    number: str | None = Field(description="Given when the invoice is finalised.")
    kind: str
    status: str
    order_line_id: int
    enterprise: Ref
    provider: Ref
    description: str
    gross_fen: int
    voucher_fen: int
    amount_fen: int
    paid_fen: int
    due_fen: int
    created_at: datetime
    finalised_at: datetime | None
    due_on: date | None = Field(
        description="Issue date plus the payment terms, in the pilots' local days."
    )
    paid_at: datetime | None


class InvoiceList(Schema):
    items: list[Invoice]
    next_cursor: NextCursor


class Voucher(Schema):
    code: str
    programme: Ref
    status: str
    face_value_fen: int
    available_fen: int
    reserved_fen: int
    redeemed_fen: int
    expired_fen: int
    redeem_by: date
    issued_at: datetime


class VoucherList(Schema):
    items: list[Voucher]
    next_cursor: NextCursor
