"""Fixtures shared by the oversight tests."""

import pytest

from tests.factories import OrganisationFactory, UserFactory


@pytest.fixture
def assessor(dbs):
    """An assessor organisation and its user (assessor@eval.cn)."""
    org = OrganisationFactory(assessor=True, name="赛迪评估中心")
    return org, UserFactory(org=org, email="assessor@eval.cn")
