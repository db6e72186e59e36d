"""How the legacy CLI tests read the tables the CLIs print: tabulate 0.7.2's plain format, as
`docker-cloud service ps` printed these (a uuid prefix of digits only right-aligned its column
and its header, and a CI run misread the row)."""

from tests.support.tables import table_rows

NUMERIC_UUID = """\
NAME        UUID  STATUS       #CONTAINERS  IMAGE    DEPLOYED       PUBLIC DNS    STACK
web     03820155  \u25b6 Running              1  busybox  4 seconds ago  test-node-1   shop
"""

TWO_ROWS = """\
NAME        UUID      STATUS       #CONTAINERS  IMAGE    DEPLOYED       PUBLIC DNS    STACK
web         03820155  \u25b6 Running              1  busybox  4 seconds ago  test-node-1   shop
db-primary  1e51c0d2  \u25fc Stopped              0  busybox
"""


def test_a_right_aligned_column_is_read_under_its_header() -> None:
    [web] = table_rows(NUMERIC_UUID.splitlines())
    assert web == {
        "NAME": "web",
        "UUID": "03820155",
        "STATUS": "\u25b6 Running",
        "#CONTAINERS": "1",
        "IMAGE": "busybox",
        "DEPLOYED": "4 seconds ago",
        "PUBLIC DNS": "test-node-1",
        "STACK": "shop",
    }


def test_words_of_one_cell_stay_together_and_empty_cells_read_empty() -> None:
    web, db = table_rows(TWO_ROWS.splitlines())
    assert (web["NAME"], web["DEPLOYED"], web["STACK"]) == ("web", "4 seconds ago", "shop")
    assert (db["NAME"], db["UUID"], db["STATUS"]) == ("db-primary", "1e51c0d2", "\u25fc Stopped")
    assert (db["DEPLOYED"], db["PUBLIC DNS"], db["STACK"]) == ("", "", "")
