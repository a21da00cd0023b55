"""Django settings for the djapp test app.

The test module passes these as ``default_settings`` to ``settings.configure`` and supplies the
real DATABASES of the server under test. To regenerate migrations after changing models.py::

    cd /work/main && django-admin makemigrations djapp \\
        --settings=tests.integration.djapp.settings

(makemigrations needs no server: the DATABASES below only name the MySQL backend).
Django's backend talks to ``MySQLdb``: mysqlclient when it is installed (Django's recommended
driver; once any test has imported it, a PyMySQL shim would mix its converters with PyMySQL's
connection), otherwise PyMySQL as ``MySQLdb`` (its documented shim).
"""

from __future__ import annotations

try:
    import MySQLdb  # noqa: F401  (mysqlclient)
except ImportError:
    import pymysql

    pymysql.install_as_MySQLdb()

SECRET_KEY = "marmotdb-djapp-tests-only"
INSTALLED_APPS = ["tests.integration.djapp"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": "djapp",
        "HOST": "127.0.0.1",
        "PORT": "3306",
        "USER": "root",
        "PASSWORD": "",
        "OPTIONS": {"charset": "utf8mb4"},
    },
}
