"""The digital-maturity questionnaire (数字化诊断): 14 questions over five scored dimensions,
plus pain points and budget, which steer the recommendations but are not scored."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

# A scored question: options worth 0 (nothing yet) to 4 (best practice).
SCALE_OPTIONS = [0, 1, 2, 3, 4]


@dataclass(frozen=True)
class Question:
    code: str
    dimension: str
    text: object
    options: tuple[object, ...]  # labels for 0…4


DIMENSIONS = {
    "equipment": _l("Equipment networking"),
    "data": _l("Data collection and use"),
    "production": _l("Production management"),
    "quality": _l("Quality management"),
    "supply_chain": _l("Supply chain and sales"),
}

QUESTIONS = [
    Question(
        "eq_connected",
        "equipment",
        _l("How many key machines are connected to a network?"),
        (_l("None"), _l("A few"), _l("About half"), _l("Most"), _l("All, with live status")),
    ),
    Question(
        "eq_maintenance",
        "equipment",
        _l("How is equipment maintained?"),
        (
            _l("Only when it breaks"),
            _l("Fixed schedule on paper"),
            _l("Schedule in software"),
            _l("Based on condition data"),
            _l("Failures predicted from data"),
        ),
    ),
    Question(
        "data_capture",
        "data",
        _l("How is production data recorded?"),
        (
            _l("Not recorded"),
            _l("On paper"),
            _l("In spreadsheets"),
            _l("In a system, typed in"),
            _l("Collected automatically"),
        ),
    ),
    Question(
        "data_use",
        "data",
        _l("How are decisions made with data?"),
        (
            _l("By experience"),
            _l("Monthly reports"),
            _l("Weekly reports"),
            _l("Daily dashboards"),
            _l("Live dashboards and alerts"),
        ),
    ),
    Question(
        "prod_planning",
        "production",
        _l("How is production planned?"),
        (
            _l("Verbally"),
            _l("Whiteboard or paper"),
            _l("Spreadsheets"),
            _l("A planning system"),
            _l("Automatic scheduling with constraints"),
        ),
    ),
    Question(
        "prod_tracking",
        "production",
        _l("How do you know where an order is in production?"),
        (
            _l("We ask the workshop"),
            _l("Paper travellers"),
            _l("Updated in a spreadsheet"),
            _l("Scanned at each step"),
            _l("Tracked live per work station"),
        ),
    ),
    Question(
        "prod_efficiency",
        "production",
        _l("Do you measure equipment efficiency (OEE)?"),
        (
            _l("No"),
            _l("Rough estimates"),
            _l("Measured by hand monthly"),
            _l("Measured automatically"),
            _l("Measured and improved continuously"),
        ),
    ),
    Question(
        "q_inspection",
        "quality",
        _l("How are inspections recorded?"),
        (
            _l("Not recorded"),
            _l("On paper"),
            _l("In spreadsheets"),
            _l("In a quality system"),
            _l("Automatically, with statistical control"),
        ),
    ),
    Question(
        "q_traceability",
        "quality",
        _l("Can you trace a defective product back to its batch and materials?"),
        (
            _l("No"),
            _l("With a lot of effort"),
            _l("Within days"),
            _l("Within hours"),
            _l("Within minutes"),
        ),
    ),
    Question(
        "sc_inventory",
        "supply_chain",
        _l("How is inventory managed?"),
        (
            _l("Counted when needed"),
            _l("Paper ledger"),
            _l("Spreadsheets"),
            _l("A warehouse system"),
            _l("Live stock linked to orders"),
        ),
    ),
    Question(
        "sc_orders",
        "supply_chain",
        _l("How are customer orders handled?"),
        (
            _l("Phone and chat only"),
            _l("Paper order forms"),
            _l("Spreadsheets"),
            _l("An ERP or CRM"),
            _l("Integrated from quote to delivery"),
        ),
    ),
    Question(
        "sc_energy",
        "supply_chain",
        _l("Do you know the energy used per unit of product?"),
        (
            _l("No"),
            _l("Only the monthly bill"),
            _l("Per workshop"),
            _l("Per line"),
            _l("Per product, in real time"),
        ),
    ),
]

PAIN_POINTS = {
    "downtime": (
        _l("Unplanned equipment downtime"),
        ["predictive_maintenance", "equipment_networking"],
    ),
    "late_delivery": (_l("Late deliveries"), ["aps", "mes"]),
    "quality": (_l("Defects and complaints"), ["quality_traceability", "mes"]),
    "visibility": (
        _l("No view of what happens in the workshop"),
        ["production_visualisation", "equipment_networking"],
    ),
    "inventory": (_l("Too much or missing stock"), ["wms", "erp"]),
    "energy": (_l("High energy costs"), ["energy_management"]),
    "sales": (_l("Order and customer follow-up"), ["crm", "erp"]),
    "security": (_l("Worries about network security"), ["industrial_security"]),
}

BUDGETS = {  # yuan per year the enterprise can spend, upper bound in fen (None = no bound)
    "under_50k": (_l("Under ¥50,000"), 50_000_00),
    "50k_200k": (_l("¥50,000 to ¥200,000"), 200_000_00),
    "200k_1m": (_l("¥200,000 to ¥1,000,000"), 1_000_000_00),
    "over_1m": (_l("Over ¥1,000,000"), None),
}

# The categories that lift a weak dimension first.
DIMENSION_CATEGORIES = {
    "equipment": ["equipment_networking", "predictive_maintenance"],
    "data": ["production_visualisation", "data_platform"],
    "production": ["mes", "aps"],
    "quality": ["quality_traceability"],
    "supply_chain": ["wms", "erp", "crm", "energy_management"],
}

LEVELS = [  # (lowest score in per cent, level)
    (80, 5),
    (60, 4),
    (40, 3),
    (20, 2),
    (0, 1),
]


def score(answers: dict[str, int]) -> tuple[dict[str, int], int, int]:
    """Per-dimension scores (0–100), the overall score (0–100) and the level (1–5)."""
    per_dimension: dict[str, int] = {}
    for dimension in DIMENSIONS:
        values = [answers[q.code] for q in QUESTIONS if q.dimension == dimension]
        per_dimension[dimension] = round(100 * sum(values) / (4 * len(values)))
    total_values = [answers[q.code] for q in QUESTIONS]
    overall = round(100 * sum(total_values) / (4 * len(total_values)))
    level = next(level for lowest, level in LEVELS if overall >= lowest)
    return per_dimension, overall, level
