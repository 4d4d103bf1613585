"""The one build step pyproject.toml cannot say: a wheel carries cooplog's own site.

`datasette/` (plugins, templates, static files) and `metadata.yml` stay at the top of the
repository, where they are edited, and are copied into the built package as `cooplog/_site/`
(the same layout), so that every install serves every log with the guard. An editable
install reads them where they are (`cooplog.log_assets.site`)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE = Path(__file__).resolve().parent
SITE = ("metadata.yml", "datasette/plugins/*.py", "datasette/templates/**/*",
        "datasette/static/**/*")
GUARD = "datasette/plugins/cooplog_guard.py"


class BuildWithSite(build_py):
    """setuptools' build_py, then the site copied into the package."""

    def run(self):
        super().run()
        if self.editable_mode:
            return
        if not (SOURCE / GUARD).is_file():  # e.g. an sdist made without MANIFEST.in
            raise SystemExit(f"{SOURCE / GUARD}: missing: a cooplog built without it would "
                             "serve logs unguarded; build from a full source tree")
        target = Path(self.build_lib, "cooplog", "_site")
        shutil.rmtree(target, ignore_errors=True)  # a file since removed is not shipped
        for pattern in SITE:
            for source in sorted(SOURCE.glob(pattern)):
                if source.is_file() and "__pycache__" not in source.parts:
                    copy = target / source.relative_to(SOURCE)
                    self.mkpath(str(copy.parent))
                    self.copy_file(str(source), str(copy))


setup(cmdclass={"build_py": BuildWithSite})
