"""PostGIS as a source and a target, against a real PostgreSQL + PostGIS (no mock): the session fixture starts its own
server (initdb into a temporary folder, pg_ctl on a free port of 127.0.0.1, the socket in that folder; as the
``postgres`` system user when the tests run as root, as CI does) and removes it at the end. ``.ci/run`` installs
PostgreSQL and PostGIS from Debian packages; under CI a missing server fails these tests instead of skipping them."""
from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import ROOT, need

SAMPLE = ROOT / "data" / "xicheng"
USER, PASSWORD = "planner", "Tr0ub4dor&3-secret"
DB, PLAIN_DB = "gis", "plain"


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _missing(what: str):
    if _ci():
        pytest.fail(f"{what} under CI: .ci/run installs postgresql and postgresql-postgis", pytrace=False)
    pytest.skip(what)


def _bin_dir() -> Path | None:
    """The newest PostgreSQL whose server binaries and PostGIS extension are installed."""
    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                         key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0, reverse=True):
        version = Path(initdb).parts[-3]
        if glob.glob(f"/usr/share/postgresql/{version}/extension/postgis.control"):
            return Path(initdb).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, port: int, folder: Path):
        self.port, self.folder = port, folder

    def url(self, db: str = DB, *, password: bool = False, **query) -> str:
        auth = f"{USER}:{PASSWORD}" if password else USER
        tail = "&".join(f"{k}={v}" for k, v in query.items())
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}" + (f"?{tail}" if tail else "")

    def env(self) -> dict:
        """The environment a planner's shell would have: the password in PGPASSWORD, not on the command line."""
        return {**os.environ, "PGPASSWORD": PASSWORD, "PYTHONPATH": str(ROOT), "PGCONNECT_TIMEOUT": "5"}

    def engine(self, db: str = DB):
        import sqlalchemy

        return sqlalchemy.create_engine(f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{db}")


@pytest.fixture(scope="session")
def server():
    need("sqlalchemy"), need("psycopg"), need("geoalchemy2")
    bindir = _bin_dir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        _missing("PostgreSQL server binaries (initdb, pg_ctl) not found")
    version = bindir.parts[-2] if bindir.parts[-1] == "bin" else ""
    if not glob.glob(f"/usr/share/postgresql/{version}/extension/postgis.control"):
        _missing(f"PostGIS for PostgreSQL {version} is not installed")
    folder = Path(tempfile.mkdtemp(prefix="geofacility-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the server runs as the postgres system user (or nobody)
        import pwd

        user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
        if user is None:
            _missing("running as root without a postgres or nobody user to run the server as")
        shutil.chown(folder, user=user)
        folder.chmod(0o700)
        prefix = ["runuser", "-u", user, "--"]
        assert pwd.getpwnam(user)
    data, log = folder / "data", folder / "server.log"
    pwfile = folder / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if prefix:
        shutil.chown(pwfile, user=prefix[2])
    port = _free_port()
    try:
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
                        "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C"],
                       check=True, capture_output=True, timeout=120)
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off")
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w",
                        "-t", "60", "start"], check=True, capture_output=True, timeout=90)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"the test PostgreSQL did not start: {exc}\n{getattr(exc, 'stderr', b'')!r}", pytrace=False)
    srv = Server(port, folder)
    try:
        import sqlalchemy

        with srv.engine("postgres").connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sqlalchemy.text(f"CREATE DATABASE {DB}"))
            conn.execute(sqlalchemy.text(f"CREATE DATABASE {PLAIN_DB}"))
        with srv.engine().begin() as conn:
            conn.execute(sqlalchemy.text("CREATE EXTENSION postgis"))
            conn.execute(sqlalchemy.text("CREATE SCHEMA xicheng"))
        _load_sample(srv)
        yield srv
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _load_sample(srv: Server) -> None:
    """The bundled Xicheng sample in PostGIS: communities (polygons, EPSG:4326) with a primary key given in the
    file's order but loaded in reverse (so row numbers must come from the key, not the physical order); the primary
    schools as points in CGCS2000 (EPSG:4490: its SRID converted like a file's CRS) — the same WGS84 points the file
    reader makes of the CSV's GCJ-02 columns."""
    from geofacility.read import read_layer

    comm = gpd.read_file(SAMPLE / "communities.geojson")
    comm.insert(0, "gid", np.arange(1, len(comm) + 1))
    schools = read_layer(SAMPLE / "primary_schools.csv")
    schools = schools.drop(columns=["source_file", "source_row", "gcj02_lng", "gcj02_lat"], errors="ignore")
    schools.insert(0, "gid", np.arange(1, len(schools) + 1))
    engine = srv.engine()
    comm.iloc[::-1].rename_geometry("geom").to_postgis("communities", engine, schema="xicheng", index=False)
    schools.set_crs(4490, allow_override=True).to_postgis("schools", engine, schema="xicheng", index=False)
    import sqlalchemy

    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("ALTER TABLE xicheng.communities ADD PRIMARY KEY (gid)"))
        conn.execute(sqlalchemy.text("ALTER TABLE xicheng.schools ADD PRIMARY KEY (gid)"))
        # a table without a primary key: rows numbered in ctid (load) order
        conn.execute(sqlalchemy.text("CREATE TABLE public.points (name text, geom geometry(Point, 4326))"))
        conn.execute(sqlalchemy.text("INSERT INTO public.points VALUES ('a', ST_Point(116.36, 39.91, 4326)), "
                                     "('b', ST_Point(116.40, 39.95, 4326)), ('c', NULL)"))
    engine.dispose()


# ----------------------------------------------------------------------------------------------------- reading


def test_read_table_rows_numbered_by_primary_key_and_crs_from_srid(server):
    from geofacility.read import read_layer

    from_file = read_layer(SAMPLE / "communities.geojson")
    url = server.url(password=True, table="xicheng.communities")
    got = read_layer(url)
    assert len(got) == len(from_file) == 214 or len(got) == len(from_file)
    # loaded in reverse, numbered by the key: row k is the file's feature k
    assert got["source_row"].tolist() == list(range(1, len(got) + 1))
    assert got["community_id"].tolist() == from_file["community_id"].tolist()
    assert got.crs.to_epsg() == 4326
    assert shapely.equals_exact(np.asarray(got.geometry.values), np.asarray(from_file.geometry.values), 0).all()
    # the password is used but never shown
    assert PASSWORD not in got["source_file"].iloc[0]
    assert got["source_file"].iloc[0] == f"postgresql://{USER}:***@127.0.0.1:{server.port}/{DB}?table=xicheng.communities"


def test_read_srid_4490_points_and_pg_string(server):
    from geofacility.read import read_layer

    os.environ["PGPASSWORD"] = PASSWORD
    try:
        pg = f'PG:"dbname={DB} host=127.0.0.1 port={server.port} user={USER} table=xicheng.schools"'
        got = read_layer(pg)
    finally:
        del os.environ["PGPASSWORD"]
    ref = read_layer(SAMPLE / "primary_schools.csv")
    assert got.crs.to_epsg() == 4326
    assert got["facility_id"].tolist() == ref["facility_id"].tolist()
    assert np.allclose(got.geometry.x, ref.geometry.x, atol=1e-9) and np.allclose(got.geometry.y, ref.geometry.y,
                                                                                  atol=1e-9)
    assert got["source_file"].iloc[0] == pg


def test_read_ctid_order_bbox_and_empty_geometry(server):
    from geofacility.errors import WarningLog
    from geofacility.read import read_layer, read_postgis_layer

    log = WarningLog()
    url = server.url(password=True, table="points")
    got = read_layer(url, log=log)
    assert got["name"].tolist() == ["a", "b", "c"] and got["source_row"].tolist() == [1, 2, 3]
    warnings = log.to_frame()
    assert warnings["row"].tolist() == ["3"] and "no geometry" in warnings["message"].iloc[0]
    # a box around b only: b keeps its row number in the whole table
    part = read_postgis_layer(url, bbox=(116.39, 39.94, 116.41, 39.96))
    assert part["name"].tolist() == ["b"] and part["source_row"].tolist() == [2]
    # the box in WGS84 against a table in CGCS2000
    schools = read_postgis_layer(server.url(password=True, table="xicheng.schools"), bbox=(116.35, 39.93, 116.37, 39.95))
    ref = read_layer(SAMPLE / "primary_schools.csv")
    inside = ref.cx[116.35:116.37, 39.93:39.95]
    assert schools["facility_id"].tolist() == inside["facility_id"].tolist() and len(schools) > 0
    assert schools["source_row"].tolist() == inside["source_row"].add(-1).tolist()  # CSV rows start at 2


@pytest.mark.parametrize("where, expected", [
    ("table=xicheng.nosuch", "no table xicheng.nosuch in the database"),
    ("table=nosuchschema.communities", "no table nosuchschema.communities in the database"),
])
def test_missing_table_is_one_line_naming_it(server, where, expected):
    from geofacility.errors import InputError
    from geofacility.read import read_layer

    url = server.url(password=True) + "?" + where
    with pytest.raises(InputError) as err:
        read_layer(url)
    text = str(err.value)
    assert expected in text and "\n" not in text and PASSWORD not in text
    assert "xicheng.communities" in text  # the tables there are listed


def test_no_postgis_and_refused_connection(server):
    from geofacility.errors import InputError
    from geofacility.read import read_layer

    with pytest.raises(InputError, match="no PostGIS.*CREATE EXTENSION postgis") as err:
        read_layer(server.url(PLAIN_DB, password=True, table="t"))
    assert PASSWORD not in str(err.value)
    with pytest.raises(InputError, match="cannot connect to the database") as err:
        read_layer(f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{_free_port()}/{DB}?table=t")
    assert PASSWORD not in str(err.value) and f"{USER}:***@" in str(err.value)
    with pytest.raises(InputError, match="cannot connect") as err:  # a wrong password
        read_layer(f"postgresql://{USER}:wrong-{PASSWORD}@127.0.0.1:{server.port}/{DB}?table=t")
    assert PASSWORD not in str(err.value)


def test_service_file(server, tmp_path, monkeypatch):
    from geofacility.read import read_layer

    services = tmp_path / "pg_service.conf"
    services.write_text(f"[xicheng]\nhost=127.0.0.1\nport={server.port}\nuser={USER}\npassword={PASSWORD}\n"
                        f"dbname={DB}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    got = read_layer("postgresql:///?service=xicheng&table=xicheng.schools")
    assert len(got) > 0 and got["source_file"].iloc[0] == "postgresql:///?service=xicheng&table=xicheng.schools"


def test_masking():
    from geofacility.masking import mask_secrets

    assert mask_secrets("postgresql://u:p%40ss@h:5/db?table=t") == "postgresql://u:***@h:5/db?table=t"
    assert mask_secrets("postgres://u@h/db?password=x&table=t") == "postgres://u@h/db?password=***&table=t"
    assert mask_secrets("PG:\"dbname=d password='a b\\'c' host=h\"") == "PG:\"dbname=d password=*** host=h\""
    assert mask_secrets("--out /tmp/x") == "--out /tmp/x"


# ------------------------------------------------------------------------------------------- the command line


def _cli(*args, env, cwd):
    return subprocess.run([sys.executable, "-m", "geofacility.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def _file_texts(folder: Path):
    """Every output file's bytes, the members of zip files (ledger.xlsx) unpacked."""
    import zipfile

    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as book:
                for member in book.namelist():
                    yield f"{path.name}:{member}", book.read(member)
        else:
            yield path.name, path.read_bytes()


SAMPLE_OPTIONS = ("--demand", SAMPLE / "compounds.csv", "--towns", SAMPLE / "streets.geojson",
                  "--jurisdiction", "北京市西城区", "--study", "北京市西城区", "--quiet")


@pytest.fixture(scope="module")
def runs(server, tmp_path_factory):
    """The sample analysed from its files, and from PostGIS (password in the URLs, results to a schema)."""
    base = tmp_path_factory.mktemp("pg_runs")
    env = {k: v for k, v in server.env().items() if k != "PGPASSWORD"}
    files = _cli("analyze", "--communities", SAMPLE / "communities.geojson", "--facilities",
                 f"education={SAMPLE / 'primary_schools.csv'}", *SAMPLE_OPTIONS, "--out", base / "files",
                 env=env, cwd=base)
    assert files.returncode == 0, files.stderr
    db = _cli("analyze", "--communities", server.url(password=True, table="xicheng.communities"), "--facilities",
              f"education={server.url(password=True, table='xicheng.schools')}", *SAMPLE_OPTIONS,
              "--out", base / "db", "--out-db", server.url(password=True, schema="results"), env=env, cwd=base)
    assert db.returncode == 0, db.stderr
    return base, files, db


def test_cli_ledger_from_postgis_equals_the_files(runs):
    base, _, _ = runs
    assert (base / "db" / "ledger.csv").read_bytes() == (base / "files" / "ledger.csv").read_bytes()
    # the warnings name the tables, masked, where the file run names the files
    from_db = gpd.read_file(base / "db" / "coverage.gpkg", layer="facilities")
    from_files = gpd.read_file(base / "files" / "coverage.gpkg", layer="facilities")
    assert from_db["facility_id"].tolist() == from_files["facility_id"].tolist()
    assert from_db["source_row"].tolist() == (from_files["source_row"] - 1).tolist()  # CSV rows start at 2
    assert set(from_db["source_file"]) == {f"postgresql://{USER}:***@127.0.0.1:{runs[0] and _port(from_db)}/{DB}"
                                           "?table=xicheng.schools"}
    info = json.loads((base / "db" / "run.json").read_text(encoding="utf-8"))
    inputs = {i["role"]: i for i in info["inputs"]}
    assert inputs["communities"] == {"role": "communities", "database": True,
                                     "path": from_db["source_file"].iloc[0].replace("schools", "communities")}


def _port(frame) -> str:
    return frame["source_file"].iloc[0].split("@127.0.0.1:")[1].split("/")[0]


def test_password_never_shown(runs, server):
    base, files, db = runs
    secret = PASSWORD.encode()
    leaks = [name for name, data in _file_texts(base / "db") if secret in data]
    assert leaks == [] and PASSWORD not in db.stdout + db.stderr
    assert f"{USER}:***@" in (base / "db" / "run.json").read_text(encoding="utf-8")  # shown, masked
    with server.engine().connect() as conn:
        import sqlalchemy

        for table in ("warnings", "run"):
            dump = conn.execute(sqlalchemy.text(f"SELECT t::text FROM results.{table} t")).scalars().all()
            assert not any(PASSWORD in row for row in dump), table
        assert "***" in conn.execute(sqlalchemy.text("SELECT run::text FROM results.run")).scalar()


def test_out_db_equals_coverage_gpkg(runs, server):
    base, _, _ = runs
    engine = server.engine()
    got = gpd.read_postgis("SELECT * FROM results.communities", engine, geom_col="geometry")
    want = gpd.read_file(base / "db" / "coverage.gpkg", layer="communities")
    assert got.crs == want.crs and list(got.columns) == list(want.columns)
    with engine.connect() as conn:  # columns keep their types (an all-empty number column reads back as None)
        import sqlalchemy

        types = dict(conn.execute(sqlalchemy.text("SELECT column_name, data_type FROM information_schema.columns "
                                                  "WHERE table_schema = 'results' AND table_name = 'communities'")).all())
    assert types["education_required_m2"] == "double precision" and types["n_categories_short"] == "bigint"
    floats = [c for c in want.columns if want[c].dtype == "float64"]
    got[floats] = got[floats].astype("float64")
    pd.testing.assert_frame_equal(pd.DataFrame(got.drop(columns="geometry")),
                                  pd.DataFrame(want.drop(columns="geometry")), check_dtype=False)
    assert shapely.equals_exact(np.asarray(got.geometry.values), np.asarray(want.geometry.values), 0).all()
    assert set(got.geom_type) == {"MultiPolygon"}  # polygons made multi, as in the GeoPackage: one column type
    warnings = pd.read_sql("SELECT * FROM results.warnings", engine)
    run = json.loads((base / "db" / "run.json").read_text(encoding="utf-8"))
    stored = pd.read_sql("SELECT * FROM results.run", engine)
    assert stored["run_id"].tolist() == [run["run_id"]] and stored["run"].iloc[0]["settings"] == run["settings"]
    assert len(warnings) > 0 and set(warnings.columns) >= {"file", "row", "severity", "message", "message_zh"}
    engine.dispose()


def test_second_write_replaces_the_set_or_nothing(server):
    from types import SimpleNamespace

    import sqlalchemy

    from geofacility.errors import InputError
    from geofacility.ledger import write_postgis
    from geofacility.pipeline import analyze
    from geofacility.study import sample_inputs

    analysis = analyze(**{k: v for k, v in sample_inputs().items() if k != "attribution"})
    url = server.url(password=True, schema="swap")
    write_postgis(analysis, url)
    n = len(analysis.communities)
    few = SimpleNamespace(communities=analysis.communities.iloc[:5], warnings=analysis.warnings.iloc[:2],
                          crs=analysis.crs, settings=analysis.settings)
    engine = server.engine()

    def counts():
        with engine.connect() as conn:
            return [conn.execute(sqlalchemy.text(f"SELECT count(*) FROM swap.{t}")).scalar()
                    for t in ("communities", "warnings", "run")]

    assert counts() == [n, len(analysis.warnings), 1]
    write_postgis(few, url)  # the earlier tables are gone, the new ones in their place
    assert counts() == [5, 2, 1]
    with engine.connect() as conn:
        tables = conn.execute(sqlalchemy.text("SELECT tablename FROM pg_tables WHERE schemaname = 'swap' "
                                              "ORDER BY 1")).scalars().all()
        indexes = conn.execute(sqlalchemy.text("SELECT indexname FROM pg_indexes WHERE schemaname = 'swap'"))\
            .scalars().all()
    assert tables == ["communities", "run", "warnings"] and indexes == ["idx_communities_geometry"]
    # a view on the warnings table: that drop fails after communities' was done; all of it is rolled back
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE VIEW swap.planner_view AS SELECT * FROM swap.warnings"))
    with pytest.raises(InputError, match="nothing was replaced") as err:
        write_postgis(analysis, url)
    assert PASSWORD not in str(err.value)
    assert counts() == [5, 2, 1]
    engine.dispose()


def test_cli_missing_table_is_one_line(server, tmp_path):
    env = server.env()
    url = server.url(table="xicheng.nosuch")
    result = _cli("analyze", "--communities", url, "--out", tmp_path / "out", "--quiet", env=env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no table xicheng.nosuch" in lines[0] and lines[0].startswith(f"error: {url}")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------------- batch


def test_batch_reads_homes_per_group_from_postgis_and_writes_the_rollup_to_a_schema(server, tmp_path):
    """The sample's homes in PostGIS: each street's group reads its own by bounding box; the per-street ledgers
    equal those of the batch from the files, and the roll-up lands in the schema (one row per community)."""
    from geofacility.read import read_layer

    homes = read_layer(SAMPLE / "compounds.csv").drop(columns=["source_file", "source_row"])
    homes.insert(0, "gid", np.arange(1, len(homes) + 1))
    engine = server.engine()
    homes.rename_geometry("geom").to_postgis("compounds", engine, schema="xicheng", index=False,
                                             if_exists="replace")
    import sqlalchemy

    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("ALTER TABLE xicheng.compounds ADD PRIMARY KEY (gid)"))
    env = server.env()
    common = ("batch", "--by", "town", "--facilities", f"education={SAMPLE / 'primary_schools.csv'}", "--towns",
              SAMPLE / "streets.geojson", "--jurisdiction", "北京市西城区", "--study", "北京市西城区", "--quiet")
    files = _cli(*common, "--communities", SAMPLE / "communities.geojson", "--demand", SAMPLE / "compounds.csv",
                 "--out", tmp_path / "files", env=env, cwd=tmp_path)
    assert files.returncode == 0, files.stderr
    db = _cli(*common, "--communities", server.url(table="xicheng.communities"), "--demand",
              server.url(table="xicheng.compounds"), "--out", tmp_path / "db", "--out-db",
              server.url(schema="batch"), env=env, cwd=tmp_path)
    assert db.returncode == 0, db.stderr
    streets = sorted(p.name for p in (tmp_path / "files").iterdir() if p.is_dir())
    assert len(streets) == 15
    for street in streets:  # the homes' rows are numbered differently (table keys, CSV lines): not compared
        assert (tmp_path / "db" / street / "ledger.csv").read_bytes() == \
            (tmp_path / "files" / street / "ledger.csv").read_bytes(), street
    rollup = gpd.read_postgis("SELECT * FROM batch.communities", engine, geom_col="geometry")
    summary = pd.read_sql("SELECT * FROM batch.summary", engine)
    inputs = pd.read_sql("SELECT * FROM batch.inputs", engine)
    engine.dispose()
    assert len(rollup) == len(gpd.read_file(SAMPLE / "communities.geojson"))
    assert sorted(summary["group"].unique()) == sorted(pd.read_csv(tmp_path / "files" / "summary.csv")["group"]
                                                       .unique())
    demand_row = inputs.loc[inputs["file"].str.contains("compounds")].iloc[0]
    assert demand_row["rows_read"] == len(homes) == demand_row["rows_used"] + demand_row["rows_reported"]
