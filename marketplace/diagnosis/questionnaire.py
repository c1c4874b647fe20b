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


TOP = SCALE_OPTIONS[-1]  # points of the best answer

# What each level means, in the words of the answers that reach it.
LEVEL_MEANINGS = {
    1: _l("Starting: work runs on experience and paper; little is recorded."),
    2: _l("Recording: key data is written down or kept in spreadsheets, but not connected."),
    3: _l("Systematised: key areas run in software, with data typed in by hand."),
    4: _l("Connected: data is collected automatically and the systems share it."),
    5: _l("Optimising: live data drives decisions, predictions and continuous improvement."),
}


def percent(points: int, possible: int) -> int:
    """A score in per cent, as every score of the diagnosis is rounded."""
    return round(100 * points / possible)


def level_of(overall: int) -> int:
    return next(level for lowest, level in LEVELS if overall >= lowest)


def lowest_score(level: int) -> int:
    return next(lowest for lowest, lv in LEVELS if lv == level)


def score(answers: dict[str, int]) -> tuple[dict[str, int], int, int]:
    """Per-dimension scores (0–100), the overall score (0–100) and the level (1–5)."""
    per_dimension: dict[str, int] = {}
    for dimension in DIMENSIONS:
        values = [answers[q.code] for q in QUESTIONS if q.dimension == dimension]
        per_dimension[dimension] = percent(sum(values), TOP * len(values))
    total_values = [answers[q.code] for q in QUESTIONS]
    overall = percent(sum(total_values), TOP * len(total_values))
    return per_dimension, overall, level_of(overall)


@dataclass(frozen=True)
class AreaPoints:
    """One dimension's share of the overall score: its answers' points of those possible."""

    dimension: str
    questions: int
    points: int
    possible: int
    score: int


@dataclass(frozen=True)
class Step:
    """One answer to raise on the way to the next level: from today's practice to a better one."""

    question: Question
    now: int
    to: int

    @property
    def now_label(self) -> object:
        return self.question.options[self.now]

    @property
    def to_label(self) -> object:
        return self.question.options[self.to]


@dataclass(frozen=True)
class LevelExplanation:
    """How a diagnosis' level came about and what the next level needs."""

    level: int
    overall: int
    areas: list[AreaPoints]
    points: int
    possible: int
    lowest: int  # the level's band of overall scores, lowest…highest
    highest: int
    next_level: int | None  # None at the top level
    next_lowest: int | None
    points_needed: int  # more points the answers must gain to reach the next level
    steps: list[Step]

    @property
    def meaning(self) -> object:
        return LEVEL_MEANINGS[self.level]

    @property
    def next_meaning(self) -> object | None:
        return LEVEL_MEANINGS[self.next_level] if self.next_level else None


def explain(answers: dict[str, int], dimension_scores: dict[str, int]) -> LevelExplanation:
    """The level from the answers: each area's points of those possible give its score; all
    the areas' points together of all possible give the overall score, whose band is the
    level. The next level needs the fewest more points whose score reaches its band; the
    steps raise the lowest answers first, in the weakest areas first."""
    areas = []
    for dimension in DIMENSIONS:
        values = [answers[q.code] for q in QUESTIONS if q.dimension == dimension]
        areas.append(
            AreaPoints(
                dimension,
                len(values),
                sum(values),
                TOP * len(values),
                dimension_scores[dimension],
            )
        )
    points = sum(a.points for a in areas)
    possible = sum(a.possible for a in areas)
    overall = percent(points, possible)
    level = level_of(overall)
    lowest = lowest_score(level)
    higher = [low for low, lv in LEVELS if lv == level + 1]
    highest = higher[0] - 1 if higher else 100
    if not higher:
        return LevelExplanation(
            level, overall, areas, points, possible, lowest, highest, None, None, 0, []
        )
    needed = next(p for p in range(points, possible + 1) if percent(p, possible) >= higher[0])
    needed -= points
    raised = dict(answers)
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    for _ in range(needed):
        question = min(
            (q for q in QUESTIONS if raised[q.code] < TOP),
            key=lambda q: (raised[q.code], dimension_scores[q.dimension], order[q.dimension]),
        )
        raised[question.code] += 1
    steps = [
        Step(q, answers[q.code], raised[q.code])
        for q in QUESTIONS
        if raised[q.code] > answers[q.code]
    ]
    return LevelExplanation(
        level,
        overall,
        areas,
        points,
        possible,
        lowest,
        highest,
        level + 1,
        higher[0],
        needed,
        steps,
    )
