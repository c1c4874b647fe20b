"""Alembic, driven from the app (``flask db …``) and from the tests."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine

from marketplace.config import PACKAGE


def alembic_config(engine: Engine | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(PACKAGE / "migrations"))
    cfg.set_main_option(
        "file_template",
        "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s",
    )
    cfg.set_section_option("post_write_hooks", "hooks", "ruff_format")
    cfg.set_section_option("post_write_hooks", "ruff_format.type", "module")
    cfg.set_section_option("post_write_hooks", "ruff_format.module", "ruff")
    cfg.set_section_option(
        "post_write_hooks", "ruff_format.options", "format REVISION_SCRIPT_FILENAME"
    )
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def check(engine: Engine) -> None:
    """Raise when the models and the migrated schema disagree."""
    command.check(alembic_config(engine))
