"""One build step beyond pyproject.toml: the wheel carries the compiled Chinese catalogue.

The .mo is not committed (it is generated from marketplace/translations/*/LC_MESSAGES/*.po);
after setuptools has copied the package into the build folder, every catalogue there is
compiled beside its .po, as ``pybabel compile --use-fuzzy`` would. The checkout is not touched
(``make`` and the tests compile their own copy). Babel is a build requirement (pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCatalogues(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout
            return
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        translations = Path(self.build_lib, "marketplace", "translations")
        catalogues = sorted(translations.glob("*/LC_MESSAGES/*.po"))
        if not catalogues:
            raise SystemExit(f"no translation catalogue under {translations}")
        for po in catalogues:
            with po.open("rb") as source:
                catalog = read_po(source)
            problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
            if problems:
                raise SystemExit(f"{po.name}: translation errors: {problems[:5]}")
            with po.with_suffix(".mo").open("wb") as target:
                write_mo(target, catalog, use_fuzzy=True)
            print(f"compiled {po.with_suffix('.mo')}")


setup(cmdclass={"build_py": BuildWithCatalogues})
