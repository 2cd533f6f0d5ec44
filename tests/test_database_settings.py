"""The database settings built from PROTOKOL_DATABASE_URL and the pool size."""

from protokol.settings import Config, database_settings

POSTGRES = "postgresql://postgres@127.0.0.1:5432/protokol"


def test_postgres_connects_per_request_by_default():
    database = database_settings(Config(database_url=POSTGRES))

    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert "pool" not in database.get("OPTIONS", {})


def test_postgres_pool_size_comes_from_the_setting():
    database = database_settings(Config(database_url=POSTGRES, database_pool=8))

    assert database["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 8, "timeout": 30}


def test_sqlite_ignores_the_pool(tmp_path):
    config = Config(data_dir=tmp_path, database_url="", database_pool=8)
    database = database_settings(config)

    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert "pool" not in database["OPTIONS"]


def test_postgres_turns_jit_off():
    database = database_settings(Config(database_url=POSTGRES))

    assert database["OPTIONS"]["options"] == "-c jit=off"
