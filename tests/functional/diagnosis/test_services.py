"""What the domains above ask of diagnosis: has an enterprise diagnosed itself?"""

from sqlalchemy import select

from marketplace.accounts.models import Organisation
from marketplace.diagnosis import services as diagnosis
from tests.factories import OrganisationFactory
from tests.factories import diagnosis as made_diagnosis


def test_has_diagnosis_and_the_diagnosed_condition_agree(app_ctx):
    diagnosed_twice, diagnosed_once, never = (OrganisationFactory() for _ in range(3))
    made_diagnosis(diagnosed_twice.id, level=2)
    made_diagnosis(diagnosed_twice.id, level=3)
    made_diagnosis(diagnosed_once.id)
    app_ctx.flush()

    assert diagnosis.has_diagnosis(diagnosed_twice.id)
    assert diagnosis.has_diagnosis(diagnosed_once.id)
    assert not diagnosis.has_diagnosis(never.id)

    mine = [diagnosed_twice.id, diagnosed_once.id, never.id]
    stmt = select(Organisation.id).where(Organisation.id.in_(mine))
    # correlated with the enclosing query: each organisation once, never a row per diagnosis
    assert sorted(app_ctx.scalars(stmt.where(diagnosis.diagnosed(Organisation.id)))) == sorted(
        [diagnosed_twice.id, diagnosed_once.id]
    )
    assert list(app_ctx.scalars(stmt.where(~diagnosis.diagnosed(Organisation.id)))) == [never.id]
