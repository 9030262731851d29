"""LogDB as oned's LogDB keeps it (src/sql/LogDB.cc): the last index in memory, a record
read together with its predecessor, records applied in index order from the last applied
one. Over a temporary SQLite DB."""

import pytest

from onesim.db import SqliteDatabase
from onesim.logdb import LogDB


@pytest.fixture
def logdb(tmp_path):
    db = SqliteDatabase(tmp_path / "one.db")
    db.create_schema()
    db.execute("CREATE TABLE applied_rows (n INTEGER PRIMARY KEY)")
    log = LogDB(db)
    log.bootstrap()
    yield log
    db.close()


def test_the_last_index_is_read_once_then_kept_by_inserts(logdb):
    logdb.insert(1, 2, "SELECT 1")
    assert logdb.last() == (1, 2)
    # A row written behind LogDB's back is not seen: the index lives in memory, as in oned.
    logdb.db.execute("INSERT INTO logdb VALUES (9, 9, '', 0, -1, 0)")
    assert logdb.last() == (1, 2)
    assert logdb.append(3, "SELECT 2") == 2
    assert logdb.last() == (2, 3)
    logdb.delete_from(10)  # a truncation reads it again
    assert logdb.last() == (9, 9)
    assert logdb.append(3, "SELECT 3") == 10


def test_a_record_and_its_predecessor_come_from_one_read(logdb):
    logdb.insert(1, 2, "SELECT 1")
    logdb.insert(2, 3, "SELECT 2")
    records = logdb.get_many((1, 2, 7))
    assert sorted(records) == [1, 2]
    assert (records[1].term, records[2].sql) == (2, "SELECT 2")
    assert logdb.get(7) is None


def test_records_are_applied_in_order_from_the_cursor_and_stop_at_a_failure(logdb):
    for n in range(1, 6):
        logdb.insert(n, 1, f"INSERT INTO applied_rows VALUES ({n})")
    logdb.insert(6, 1, "INSERT INTO no_such_table VALUES (6)")
    logdb.insert(7, 1, "INSERT INTO applied_rows VALUES (7)")
    failed = []
    assert logdb.apply_up_to(3, lambda i, e: failed.append(i), after=0) == 3
    assert logdb.apply_up_to(7, lambda i, e: failed.append(i), after=3) == 5
    assert failed == [6]
    assert logdb.db.query("SELECT n FROM applied_rows ORDER BY n") == [(1,), (2,), (3,), (4,), (5,)]
    # Walking again from before records already applied does not run them twice.
    assert logdb.apply_up_to(5, lambda i, e: failed.append(i), after=0) == 5
    assert logdb.db.scalar("SELECT COUNT(*) FROM applied_rows") == 5
    assert logdb.last_applied() == 5
